import * as fs from 'node:fs';
import * as path from 'node:path';
import { Template } from 'aws-cdk-lib/assertions';
import { InstanceCounts, QuotaBudgets, QuotaShares, quotaShares } from './quota-shares';
import { AUTO_REPAIR_MODES, Json, buildStack } from './test-support';

const DEFAULT_BUDGETS: QuotaBudgets = { contactLensPerSecond: 1, describeContactPerSecond: 5, entriesReadsPerHour: 800 };
const RAISED_BUDGETS: QuotaBudgets = { contactLensPerSecond: 5, describeContactPerSecond: 5, entriesReadsPerHour: 8000 };
const share = (contactLensPerSecond: number, describeContactPerSecond: number, entriesReadsPerHour: number) => ({
  contactLensPerSecond,
  describeContactPerSecond,
  entriesReadsPerHour,
});

describe('quotaShares', () => {
  test.each([
    // [budgets, manual, worker, timeout, manual share, worker share]
    ['default', DEFAULT_BUDGETS, 1, 0, 900, share(1, 5, 800), undefined],
    // Repair alone (its least concurrency): 100 contacts need 200 Contact Lens requests, 100
    // DescribeContacts and 100 entries reads in 720 s.
    ['default', DEFAULT_BUDGETS, 1, 2, 900, share(0.2777, 0.1388, 500), share(0.3611, 2.4305, 150)],
    // Repair and one backfill batch: the defaults with both.
    ['default', DEFAULT_BUDGETS, 1, 3, 900, share(0.2777, 0.1388, 500), share(0.2407, 1.6203, 100)],
    // Two manual slots share what three quarters of the entries budget allows.
    ['default', DEFAULT_BUDGETS, 2, 3, 900, share(0.2777, 0.1388, 300), share(0.1481, 1.574, 66)],
    ['default', DEFAULT_BUDGETS, 1, 10, 900, share(0.2777, 0.1388, 500), share(0.0722, 0.4861, 30)],
    // A short timeout: manual invocations take at most three quarters of a budget.
    ['default', DEFAULT_BUDGETS, 1, 3, 300, share(0.75, 0.4166, 600), share(0.0833, 1.5277, 66)],
    ['raised', RAISED_BUDGETS, 1, 3, 900, share(0.2777, 0.1388, 500), share(1.574, 1.6203, 2500)],
    ['raised', RAISED_BUDGETS, 1, 10, 900, share(0.2777, 0.1388, 500), share(0.4722, 0.4861, 750)],
  ])(
    '%s budgets, %i manual and %i worker instances, %i s timeout',
    (_name, budgets, manual, worker, timeout, manualShare, workerShare) => {
      const counts: InstanceCounts = { manual, worker };
      const shares = quotaShares(budgets, counts, timeout);
      expect(shares).toEqual({ manual: manualShare, worker: workerShare });
      expectWithinBudgets(budgets, counts, shares);
    },
  );

  test('a manual share sized for smaller requests leaves the rest to the worker', () => {
    // 10 contacts need 20 Contact Lens requests, 10 DescribeContacts and 10 entries reads in 720 s.
    const counts: InstanceCounts = { manual: 1, worker: 3 };
    const shares = quotaShares(DEFAULT_BUDGETS, counts, 900, 10);
    expect(shares).toEqual({ manual: share(0.0277, 0.0138, 50), worker: share(0.324, 1.662, 250) });
    expectWithinBudgets(DEFAULT_BUDGETS, counts, shares);
  });
});

/**
 * The busy-hour benchmark computes the worker's shares itself (tests/bench/src/busy_hour/shares.rs)
 * for one manual instance and the 900 s timeout; both sides check this one table, so the bench
 * deploys what the stack would.
 */
describe('the cases shared with the benchmark', () => {
  const file = path.join(__dirname, '..', 'tests', 'fixtures', 'quota-shares.json');
  const { cases } = JSON.parse(fs.readFileSync(file, 'utf8')) as {
    cases: { budgets: QuotaBudgets; workerInstances: number; manualRequestContacts: number; worker: QuotaShares['worker'] }[];
  };
  const title =
    'Contact Lens $budgets.contactLensPerSecond/s, entries $budgets.entriesReadsPerHour/h, ' +
    '$workerInstances worker instances, manual share for $manualRequestContacts contacts';
  test.each(cases)(title, (c) => {
    const shares = quotaShares(c.budgets, { manual: 1, worker: c.workerInstances }, 900, c.manualRequestContacts);
    expect(shares.worker).toEqual(c.worker);
  });
});

/** Every instance of both functions at once stays within each budget. */
function expectWithinBudgets(budgets: QuotaBudgets, counts: InstanceCounts, shares: QuotaShares) {
  for (const quota of ['contactLensPerSecond', 'describeContactPerSecond', 'entriesReadsPerHour'] as const) {
    const total = counts.manual * shares.manual[quota] + counts.worker * (shares.worker?.[quota] ?? 0);
    expect(total).toBeLessThanOrEqual(budgets[quota]);
  }
}

describe('the stack deploys the shares', () => {
  const functionsByRole = (context: Record<string, string>) => {
    const functions = Object.values<Json>(Template.fromStack(buildStack(context)).findResources('AWS::Lambda::Function'));
    const byDescription = (text: string) => functions.find((f) => f.Properties.Description.includes(text))?.Properties;
    return { manual: byDescription('Uploads'), worker: byDescription('automatic repair') };
  };
  const sharesOf = (fn: Json) => {
    const {
      CONTACT_LENS_REQUESTS_PER_SECOND,
      DESCRIBE_CONTACT_REQUESTS_PER_SECOND,
      SALESFORCE_ENTRIES_READS_PER_HOUR,
      SALESFORCE_API_USAGE_CEILING_PERCENT,
    } = fn.Environment.Variables;
    return [
      fn.ReservedConcurrentExecutions,
      CONTACT_LENS_REQUESTS_PER_SECOND,
      DESCRIBE_CONTACT_REQUESTS_PER_SECOND,
      SALESFORCE_ENTRIES_READS_PER_HOUR,
      SALESFORCE_API_USAGE_CEILING_PERCENT,
    ];
  };

  test.each([
    // [context, manual [reserved, shares...], worker]
    [{}, [1, '1', '5', '800', '80'], undefined],
    [{ autoRepair: 'true' }, [1, '0.2777', '0.1388', '500', '80'], [2, '0.3611', '2.4305', '150', '80']],
    [AUTO_REPAIR_MODES['SCV SSM parameters, backfill and auto repair'], [1, '0.2777', '0.1388', '500', '80'], [3, '0.2407', '1.6203', '100', '80']],
    [
      { autoRepair: 'true', autoRepairMaxConcurrency: '10', contactLensQuotaPerSecond: '5', salesforceEntriesReadsPerHour: '8000' },
      [1, '0.2777', '0.1388', '500', '80'],
      [10, '0.4722', '0.4861', '750', '80'],
    ],
    [
      // Manual requests of at most 10 contacts: the worker gets the rest.
      { ...AUTO_REPAIR_MODES['SCV SSM parameters, backfill and auto repair'], manualRequestContacts: '10' },
      [1, '0.0277', '0.0138', '50', '80'],
      [3, '0.324', '1.662', '250', '80'],
    ],
    [
      { backfill: 'true', reservedConcurrency: '6', backfillMaxConcurrency: '3', salesforceApiUsageCeilingPercent: '60' },
      // Three manual slots share three quarters of the Contact Lens and entries budgets.
      [3, '0.25', '0.1388', '200', '60'],
      [3, '0.0833', '1.5277', '66', '60'],
    ],
  ])('%j', (context, manual, worker) => {
    const functions = functionsByRole(context as Record<string, string>);
    expect(sharesOf(functions.manual)).toEqual(manual);
    expect(functions.worker === undefined ? undefined : sharesOf(functions.worker)).toEqual(worker);
  });
});
