import { benchExperiments } from './experiments.js';
import { printTable } from './format.js';
import { benchHub } from './hub.js';
import { benchPolicies } from './policies.js';
import { benchSweep } from './sweep.js';
import { benchTeam } from './team.js';
import { benchTelemetry } from './telemetry.js';

// One run prints every figure beside its baseline, so ratios come from the
// same machine under the same load.
console.log(`hitloop benchmarks — node ${process.version}, ${new Date().toISOString()}`);
printTable('Policy decisions (median of 5 rounds)', benchPolicies());
printTable('Telemetry events (median of rounds)', await benchTelemetry());
printTable('Approval hub (median / percentiles)', await benchHub());
printTable('Experiments (four conditions x 1,000 trials)', await benchExperiments());
printTable('Sweep (21,600 trials, files on disk)', await benchSweep());
const team = await benchTeam(
  process.env.HITLOOP_BENCH_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test',
);
if (team.length)
  printTable('Team hub: 1,000 approvals through PostgreSQL by 4 proxy processes', team);
