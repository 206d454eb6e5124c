import type { Alert } from '../../../schemas/alerts.ts'
import { alertFacts, alertText, alertTitle } from '../render.ts'

// Slack's limits: a header's text 150 characters, a section's text 3,000, a field's 2,000, 10 fields.
const HEADER_LENGTH = 150
const SECTION_LENGTH = 3000
const FIELD_LENGTH = 2000
const FIELDS = 10

const cut = (text: string, max: number) => (text.length > max ? `${text.slice(0, max - 1)}…` : text)
/** `&`, `<` and `>` are Slack's control characters in text: names and messages are shown, never parsed. */
const escape = (text: string) => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')
const mrkdwn = (text: string, max: number) => ({ type: 'mrkdwn', text: cut(escape(text), max) })

/**
 * An incoming-webhook message: `text` is what notifications show (and the whole message for
 * clients without blocks), `blocks` the laid-out message.
 */
export function slackPayload (alert: Alert) {
  const facts = alertFacts(alert)
  return {
    text: cut(escape(alertText(alert)), SECTION_LENGTH),
    blocks: [
      { type: 'header', text: { type: 'plain_text', text: cut(alertTitle(alert), HEADER_LENGTH) } },
      { type: 'section', text: mrkdwn(alert.message, SECTION_LENGTH) },
      {
        type: 'section',
        fields: facts.slice(0, FIELDS).map(fact => ({ type: 'mrkdwn', text: cut(`*${fact.title}*\n${escape(fact.value)}`, FIELD_LENGTH) }))
      }
    ]
  }
}
