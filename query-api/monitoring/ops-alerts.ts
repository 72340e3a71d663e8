// Operational alerts (for operators, not the users' market alerts): sent by hand through the API
// or raised by the SLO sampler when an SLO becomes breached. Each goes to the log and, when
// OPS_ALERT_WEBHOOK_URL is set, is POSTed there as JSON. The URL is never logged (webhook URLs
// often carry a token). History is a bounded ring.
import { Literals } from '../schema-literals.ts';
import { randomUUID } from 'node:crypto';
import { Type, type Static } from '@sinclair/typebox';
import type { Logger } from '../../runtime/logger.ts';

export const OPS_SEVERITIES = ['info', 'warning', 'critical'] as const;
export type OpsSeverity = (typeof OPS_SEVERITIES)[number];
const HISTORY_MAX = 500;

export const OpsAlertSchema = Type.Object({
  id: Type.String(),
  at: Type.String({ format: 'date-time' }),
  severity: Literals(OPS_SEVERITIES),
  title: Type.String(),
  message: Type.String(),
  source: Type.String(),
  delivery: Type.Object({
    log: Type.Boolean(),
    webhook: Type.Union([Type.Literal('sent'), Type.Literal('failed'), Type.Literal('not_configured')]),
    webhook_status: Type.Union([Type.Integer(), Type.Null()]),
    webhook_error: Type.Union([Type.String(), Type.Null()]),
  }),
});
export type OpsAlert = Static<typeof OpsAlertSchema>;


export class OpsAlerts {
  private readonly history: OpsAlert[] = [];
  private readonly counts = { total: 0, by_severity: { info: 0, warning: 0, critical: 0 } as Record<OpsSeverity, number>, by_source: {} as Record<string, number>, webhook_sent: 0, webhook_failed: 0 };

  constructor(private readonly log: Logger, private readonly webhookUrl: string | null, private readonly timeoutMs = 5000) {}

  async send(a: { severity: OpsSeverity; title: string; message: string; source: string }): Promise<OpsAlert> {
    const alert: OpsAlert = { id: randomUUID(), at: new Date().toISOString(), ...a, delivery: { log: true, webhook: 'not_configured', webhook_status: null, webhook_error: null } };
    const level = a.severity === 'critical' ? 'error' : a.severity === 'warning' ? 'warn' : 'info';
    this.log[level]({ component: 'ops-alert', alert_id: alert.id, severity: a.severity, source: a.source, title: a.title }, `ops alert: ${a.message}`);
    if (this.webhookUrl) {
      try {
        const r = await fetch(this.webhookUrl, {
          method: 'POST', headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ id: alert.id, at: alert.at, severity: a.severity, title: a.title, message: a.message, source: a.source, service: 'tickflow' }),
          signal: AbortSignal.timeout(this.timeoutMs),
        });
        alert.delivery.webhook_status = r.status;
        alert.delivery.webhook = r.ok ? 'sent' : 'failed';
        if (!r.ok) alert.delivery.webhook_error = `webhook answered ${r.status}`;
      } catch (err) {
        alert.delivery.webhook = 'failed';
        alert.delivery.webhook_error = (err as Error).message.split('\n')[0] ?? 'error';
      }
      if (alert.delivery.webhook === 'sent') this.counts.webhook_sent++;
      else { this.counts.webhook_failed++; this.log.warn({ component: 'ops-alert', alert_id: alert.id, error: alert.delivery.webhook_error }, 'ops alert webhook delivery failed'); }
    }
    this.counts.total++;
    this.counts.by_severity[a.severity]++;
    this.counts.by_source[a.source] = (this.counts.by_source[a.source] ?? 0) + 1;
    this.history.push(alert);
    if (this.history.length > HISTORY_MAX) this.history.shift();
    return alert;
  }

  recent(limit: number, severity?: OpsSeverity): OpsAlert[] {
    const xs = severity ? this.history.filter((a) => a.severity === severity) : this.history;
    return xs.slice(-limit).reverse();
  }

  stats() {
    const last = this.history[this.history.length - 1];
    return { ...this.counts, by_severity: { ...this.counts.by_severity }, by_source: { ...this.counts.by_source }, webhook_configured: this.webhookUrl !== null, history_size: this.history.length, history_max: HISTORY_MAX, last_at: last?.at ?? null };
  }
}
