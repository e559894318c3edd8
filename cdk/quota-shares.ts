/**
 * The deployment's budget of each external quota, turned into per-instance shares.
 *
 * Every function instance paces its requests with a one-token bucket (lambda/src/adapters/pace.rs),
 * so what the instances of one function can spend in any window is at most their share times
 * their number, and that number is capped by the function's reserved concurrency. Two functions
 * run the same code: `manual` serves administrators' invocations, `worker` the repair mapping and
 * the backfill map. Their reserved concurrencies are the maximum concurrency of those paths, so
 * manual invocations hold a share that repair and backfills cannot take.
 */

/** What the whole deployment may spend of each quota (CDK settings). */
export interface QuotaBudgets {
  /** ListRealtimeContactAnalysisSegments requests per second: the account's quota (`contactLensQuotaPerSecond`). */
  readonly contactLensPerSecond: number;
  /** DescribeContact requests per second (`describeContactQuotaPerSecond`). */
  readonly describeContactPerSecond: number;
  /** Salesforce conversation entries GETs per hour (`salesforceEntriesReadsPerHour`). */
  readonly entriesReadsPerHour: number;
}

/** One instance's share of each budget, as the function's environment variables carry it. */
export interface InstanceShares {
  readonly contactLensPerSecond: number;
  readonly describeContactPerSecond: number;
  readonly entriesReadsPerHour: number;
}

/** How many instances of each function may run at once. */
export interface InstanceCounts {
  /** Manual invocations at once: the manual function's reserved concurrency. */
  readonly manual: number;
  /** Repair invocations (the SQS mapping's maximum concurrency) plus backfill batches (the map's); 0 without either. */
  readonly worker: number;
}

export interface QuotaShares {
  readonly manual: InstanceShares;
  /** Absent when neither automatic repair nor backfills are deployed. */
  readonly worker?: InstanceShares;
}

/** The largest manual request (the contactDataSync contract's limit), and the default the manual share is sized for. */
export const MANUAL_REQUEST_CONTACTS = 100;
/**
 * What one contact of a manual request spends: one DescribeContact, one entries read of its
 * conversation, and Contact Lens pages of 100 segments, two for a call of ordinary length.
 */
const PER_CONTACT = { contactLens: 2, describeContact: 1, entriesReads: 1 };
/** A manual request should finish within this part of the timeout; the rest is uploading and answering. */
const MANUAL_TIME_SHARE = 0.8;
/** However large the manual need, the background keeps at least this part of each budget. */
const MANUAL_MAX_SHARE = 0.75;

/**
 * Each function's per-instance shares. Manual invocations first get what a request of
 * `manualRequestContacts` contacts (a setting, at most the contract's {@link MANUAL_REQUEST_CONTACTS})
 * needs to finish within 80 % of the timeout (per manual instance), at most 75 % of the budget
 * while a worker exists; the worker's instances split the rest evenly. Shares are rounded down (rates to 4 decimals, entries reads to whole reads), so
 * `manual × manualShare + worker × workerShare ≤ budget` for every quota.
 */
export function quotaShares(
  budgets: QuotaBudgets,
  counts: InstanceCounts,
  timeoutSeconds: number,
  manualRequestContacts: number = MANUAL_REQUEST_CONTACTS,
): QuotaShares {
  const window = timeoutSeconds * MANUAL_TIME_SHARE;
  const split = (budget: number, perContact: number, perSecondOf: number) => {
    const needPerInstance = ((manualRequestContacts * perContact) / window) * perSecondOf;
    const manualTotal =
      counts.worker === 0 ? budget : Math.min(budget * MANUAL_MAX_SHARE, needPerInstance * counts.manual);
    return {
      manual: manualTotal / counts.manual,
      worker: counts.worker === 0 ? 0 : (budget - manualTotal) / counts.worker,
    };
  };
  const contactLens = split(budgets.contactLensPerSecond, PER_CONTACT.contactLens, 1);
  const describeContact = split(budgets.describeContactPerSecond, PER_CONTACT.describeContact, 1);
  const entriesReads = split(budgets.entriesReadsPerHour, PER_CONTACT.entriesReads, 3600);
  const shares = (pick: 'manual' | 'worker'): InstanceShares => ({
    contactLensPerSecond: floorTo4(contactLens[pick]),
    describeContactPerSecond: floorTo4(describeContact[pick]),
    entriesReadsPerHour: Math.floor(entriesReads[pick]),
  });
  return { manual: shares('manual'), worker: counts.worker === 0 ? undefined : shares('worker') };
}

/**
 * The most contacts (1 to {@link MANUAL_REQUEST_CONTACTS}) one instance's share lets an invocation
 * finish within 80 % of the timeout: the size of a backfill batch.
 */
export function contactsWithinTimeout(share: InstanceShares, timeoutSeconds: number): number {
  const window = timeoutSeconds * MANUAL_TIME_SHARE;
  const byQuota = Math.min(
    (share.contactLensPerSecond * window) / PER_CONTACT.contactLens,
    (share.describeContactPerSecond * window) / PER_CONTACT.describeContact,
    (share.entriesReadsPerHour * window) / 3600 / PER_CONTACT.entriesReads,
  );
  return Math.max(1, Math.min(MANUAL_REQUEST_CONTACTS, Math.floor(byQuota)));
}

/** The function's environment variables for one instance's shares (names in lambda/env-vars.json). */
export function shareEnvironment(shares: InstanceShares, apiUsageCeilingPercent: number): Record<string, string> {
  return {
    CONTACT_LENS_REQUESTS_PER_SECOND: String(shares.contactLensPerSecond),
    DESCRIBE_CONTACT_REQUESTS_PER_SECOND: String(shares.describeContactPerSecond),
    SALESFORCE_ENTRIES_READS_PER_HOUR: String(shares.entriesReadsPerHour),
    SALESFORCE_API_USAGE_CEILING_PERCENT: String(apiUsageCeilingPercent),
  };
}

/** Rounded down, so rounding never lifts the sum above the budget. */
function floorTo4(value: number): number {
  return Math.floor(value * 10_000) / 10_000;
}
