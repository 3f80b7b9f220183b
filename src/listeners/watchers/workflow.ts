import type { Firestore } from 'firebase-admin/firestore';
import { makeEvent } from '../../shared/events.js';
import { diffFields, stepStatus } from '../normalize.js';
import type { WatchContext, Watcher } from './types.js';

/**
 * `clients/{uid}/task_manager/{job}` → `workflow.step_update` {step_changes:{APBookeeper_step_status:
 * {step:count}}} and its `document/initial_data` → `workflow.invoice_update` {invoice_changes:
 * {field:value}}; only what changed since the last seen state. The first snapshot is the baseline
 * (no events on attach); after a re-attach the baseline is kept, so only real changes go out.
 */
export function watchWorkflow(ctx: WatchContext, firestore: Firestore, jobId: string): Watcher {
  const job = firestore.collection('clients').doc(ctx.uid).collection('task_manager').doc(jobId);
  let steps: Record<string, unknown> | undefined;
  let invoice: Record<string, unknown> | undefined;

  const stepsWatch = ctx.resilient('workflow', (cb) =>
    job.onSnapshot(
      (snap) => {
        cb.onHealthy();
        const next = stepStatus(snap.data());
        if (steps !== undefined) {
          const changes = diffFields(steps, next);
          if (Object.keys(changes).length > 0) ctx.publish(makeEvent('workflow.step_update', ctx.uid, { step_changes: { APBookeeper_step_status: changes } }, { job_id: jobId }));
        }
        steps = next;
      },
      (err) => cb.onError(err),
    ),
  );
  const invoiceWatch = ctx.resilient('workflow_invoice', (cb) =>
    job
      .collection('document')
      .doc('initial_data')
      .onSnapshot(
        (snap) => {
          cb.onHealthy();
          const next = snap.data() ?? {};
          if (invoice !== undefined) {
            const changes = diffFields(invoice, next);
            if (Object.keys(changes).length > 0) ctx.publish(makeEvent('workflow.invoice_update', ctx.uid, { invoice_changes: changes }, { job_id: jobId }));
          }
          invoice = next;
        },
        (err) => cb.onError(err),
      ),
  );
  return {
    stop: () => {
      stepsWatch.stop();
      invoiceWatch.stop();
    },
  };
}
