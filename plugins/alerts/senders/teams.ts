import type { Alert } from '../../../schemas/alerts.ts'
import { alertFacts, alertTitle } from '../render.ts'

const TITLE_COLOR: Record<Alert['kind'], string> = { down: 'Attention', up: 'Good', disk: 'Warning', test: 'Accent' }

/**
 * A Teams Workflows webhook message ("Post to a channel when a webhook request is received"):
 * one Adaptive Card attachment, the shape Microsoft documents for cards sent to webhooks.
 */
export function teamsPayload (alert: Alert) {
  return {
    type: 'message',
    attachments: [{
      contentType: 'application/vnd.microsoft.card.adaptive',
      contentUrl: null,
      content: {
        $schema: 'http://adaptivecards.io/schemas/adaptive-card.json',
        type: 'AdaptiveCard',
        version: '1.4',
        body: [
          { type: 'TextBlock', text: alertTitle(alert), size: 'Large', weight: 'Bolder', color: TITLE_COLOR[alert.kind], wrap: true },
          { type: 'TextBlock', text: alert.message, wrap: true },
          { type: 'FactSet', facts: alertFacts(alert) }
        ]
      }
    }]
  }
}
