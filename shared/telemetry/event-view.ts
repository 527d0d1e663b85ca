// Schema version 4 stores trace events in two forms and shows them as one
// (version 5 made the compact form narrower):
//
// - `stored_events`: events with their full payload (the seed's
//   `trace_events` table as it was, renamed);
// - `tool_calls`: one row per allowed call (its `action_proposed`, and once
//   known its `tool_execution_start` and successful `tool_execution_end`).
//   What is the same for every call of a tool under one policy verdict (tool
//   name, risk, side effects, rationale, server, annotations, policy name,
//   reason and rule) is stored once in `call_shapes`; short arguments are
//   stored in the row, long ones once per distinct value in `tool_args`.
//   Measured on this project's 2-core machine: the version-4 row (24 columns
//   and a `tool_args` row per call) cost 19-21 µs per call to insert, this
//   one 7-12 µs;
// - `trace_events`: a view, the union of both, with the seed's columns, ids,
//   order, timestamps and payload text exactly as the full rows would have
//   had them. Triggers let other writers (the Python library, scripts) insert,
//   update and delete through it as through the table.
//
// Ids come from one sequence (`trace_event_ids`) shared by both forms, so
// `ORDER BY id` is still the order events were logged. The view itself is
// ordered by id: a query without ORDER BY (a researcher's quick script) got
// the table's rows in id order, and gets them so from the view too.

/** The arguments' JSON text: in the row, or in `tool_args`. */
const ARGS = 'coalesce(c.args, a.args)';

/** A `tool_calls` row `c` with its shape `s` and (long) arguments `a`. */
const CALL_ROWS =
  'tool_calls c JOIN call_shapes s ON s.id = c.shape_id LEFT JOIN tool_args a ON a.id = c.args_id';

/** The `action_proposed` payload of a `tool_calls` row `c` with its shape `s` and arguments, as JSON.stringify wrote it. */
const PROPOSED_PAYLOAD = `'{"action_id":"' || c.action_id || '","tool_name":"' || s.tool_name ||
  '","args_hash":"' || c.args_hash || '","risk_class":"' || s.risk_class ||
  '","side_effects":' || s.side_effects || ',"tool_args":' || ${ARGS} ||
  ',"rationale":"' || s.rationale || '","context_refs":' || s.context_refs ||
  CASE WHEN s.server IS NULL THEN '' ELSE ',"server":"' || s.server || '"' END ||
  CASE WHEN s.annotations IS NULL THEN '' ELSE ',"annotations":' || s.annotations END ||
  ',"policy_name":"' || s.policy_name || '","policy_verdict":"allow","policy_reason":"' ||
  s.policy_reason || '","policy_rule":' ||
  CASE WHEN s.policy_rule IS NULL THEN 'null' ELSE '"' || s.policy_rule || '"' END || '}'`;

const START_PAYLOAD = `'{"action_id":"' || c.action_id || '","tool_name":"' || s.tool_name ||
  '","tool_args":' || ${ARGS} || '}'`;

const END_PAYLOAD = `'{"action_id":"' || c.action_id ||
  '","success":true,"error":null,"error_class":null,"retry_count":0,"execution_time_ms":' ||
  c.duration_ms || ',"duration_ms":' || c.duration_ms || ',"executed":true}'`;

// Typed as the table's column, so the view declares the seed's type. The
// payload cannot be: a cast to JSON (numeric affinity) would turn text into
// numbers, so the view declares no type for it (values are the same text).
const kind = (eventType: string) => `CAST('${eventType}' AS VARCHAR(64))`;
const json = (text: string) => text;

/** The events of the compact rows, one SELECT per kind (with `call_id`, the row they come from). */
const CALL_EVENTS = `
  SELECT c.id AS call_id, c.id AS id, c.proposed_at AS timestamp, c.run_id AS run_id,
         ${kind('action_proposed')} AS event_type, ${json(PROPOSED_PAYLOAD)} AS payload,
         c.proposed_event_id AS event_id
  FROM ${CALL_ROWS}
  UNION ALL
  SELECT c.id, c.start_id, c.started_at, c.run_id, ${kind('tool_execution_start')},
         ${json(START_PAYLOAD)}, c.start_event_id
  FROM ${CALL_ROWS} WHERE c.start_id IS NOT NULL
  UNION ALL
  SELECT c.id, c.end_id, c.ended_at, c.run_id, ${kind('tool_execution_end')},
         ${json(END_PAYLOAD)}, c.end_event_id
  FROM tool_calls c WHERE c.end_id IS NOT NULL`;

// The next id: above every id either form holds (another tool may have
// written stored_events directly), and never below the sequence.
const NEXT_ID = `max(
  (SELECT next_id FROM trace_event_ids),
  (SELECT coalesce(max(id), 0) + 1 FROM stored_events),
  (SELECT coalesce(max(id), 0) + 1 FROM tool_calls))`;

// Before a compact row's event is changed or deleted alone, the whole call
// becomes full rows, which the statement then edits like any other.
const EXPAND_CALL_OF_OLD = `
  INSERT INTO stored_events (id, timestamp, run_id, event_type, payload, event_id)
    SELECT id, timestamp, run_id, event_type, payload, event_id FROM tool_call_events
    WHERE call_id IN (SELECT id FROM tool_calls
                      WHERE run_id = OLD.run_id AND OLD.id IN (id, start_id, end_id));
  DELETE FROM tool_calls WHERE run_id = OLD.run_id AND OLD.id IN (id, start_id, end_id);`;

// Column definitions the tables of versions 4 and 5 share: a call's shape
// after its tool name, and its start and end.
const SHAPE_COLUMNS_AFTER_TOOL = `risk_class TEXT NOT NULL,
  side_effects TEXT NOT NULL,
  rationale TEXT NOT NULL,
  context_refs TEXT NOT NULL,
  server TEXT,
  annotations TEXT,
  policy_name TEXT NOT NULL,
  policy_reason TEXT NOT NULL,
  policy_rule TEXT`;
const STEP_COLUMNS = `start_id INTEGER,
  started_at DATETIME,
  start_event_id TEXT,
  end_id INTEGER,
  ended_at DATETIME,
  end_event_id TEXT,
  duration_ms TEXT`;

/**
 * The tables of version 4's event storage (the step from version 3 creates
 * them, after renaming `trace_events` to `stored_events`; the step to 5
 * reshapes them and puts the view in front).
 *
 * @example
 * db.exec('ALTER TABLE trace_events RENAME TO stored_events'); db.exec(EVENT_TABLES_V4_DDL);
 */
export const EVENT_TABLES_V4_DDL = `
CREATE TABLE IF NOT EXISTS tool_args (
  id INTEGER NOT NULL PRIMARY KEY,
  args TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS tool_calls (
  id INTEGER NOT NULL PRIMARY KEY,
  run_id VARCHAR(64) NOT NULL,
  proposed_at DATETIME NOT NULL,
  proposed_event_id TEXT,
  action_id TEXT NOT NULL,
  tool_name TEXT NOT NULL,
  args_hash TEXT NOT NULL,
  args_id INTEGER NOT NULL REFERENCES tool_args (id),
  ${SHAPE_COLUMNS_AFTER_TOOL},
  ${STEP_COLUMNS}
);
CREATE INDEX IF NOT EXISTS ix_tool_calls_run_id ON tool_calls (run_id);
CREATE TABLE IF NOT EXISTS trace_event_ids (next_id INTEGER NOT NULL);
INSERT INTO trace_event_ids (next_id)
  SELECT coalesce(max(id), 0) + 1 FROM stored_events
  WHERE NOT EXISTS (SELECT 1 FROM trace_event_ids);
`;

/** Columns of a shape, in `call_shapes` and (version 4) in `tool_calls`. */
const SHAPE_COLUMNS =
  'tool_name, risk_class, side_effects, rationale, context_refs, server, annotations, policy_name, policy_reason, policy_rule';

/**
 * The step from version 4 to 5: the per-tool columns of `tool_calls` move to
 * `call_shapes` (one row per distinct combination), the arguments may sit in
 * the row (`args`; rows from version 4 keep their `tool_args` reference), and
 * the view is rebuilt over the new columns. Every id, row and payload text stays.
 *
 * @example
 * db.exec(EVENT_VIEW_V5_MIGRATION);
 */
export const EVENT_VIEW_V5_MIGRATION = `
DROP VIEW IF EXISTS trace_events;
DROP VIEW IF EXISTS tool_call_events;
CREATE TABLE call_shapes (
  id INTEGER NOT NULL PRIMARY KEY,
  tool_name TEXT NOT NULL,
  ${SHAPE_COLUMNS_AFTER_TOOL}
);
INSERT INTO call_shapes (${SHAPE_COLUMNS}) SELECT DISTINCT ${SHAPE_COLUMNS} FROM tool_calls;
DROP INDEX IF EXISTS ix_tool_calls_run_id;
ALTER TABLE tool_calls RENAME TO tool_calls_v4;
CREATE TABLE tool_calls (
  id INTEGER NOT NULL PRIMARY KEY,
  run_id VARCHAR(64) NOT NULL,
  shape_id INTEGER NOT NULL REFERENCES call_shapes (id),
  proposed_at DATETIME NOT NULL,
  proposed_event_id TEXT,
  action_id TEXT NOT NULL,
  args_hash TEXT NOT NULL,
  args TEXT,
  args_id INTEGER REFERENCES tool_args (id),
  ${STEP_COLUMNS}
);
INSERT INTO tool_calls (id, run_id, shape_id, proposed_at, proposed_event_id, action_id,
    args_hash, args, args_id, start_id, started_at, start_event_id, end_id, ended_at,
    end_event_id, duration_ms)
  SELECT c.id, c.run_id,
    (SELECT s.id FROM call_shapes s WHERE s.tool_name IS c.tool_name
       AND s.risk_class IS c.risk_class AND s.side_effects IS c.side_effects
       AND s.rationale IS c.rationale AND s.context_refs IS c.context_refs
       AND s.server IS c.server AND s.annotations IS c.annotations
       AND s.policy_name IS c.policy_name AND s.policy_reason IS c.policy_reason
       AND s.policy_rule IS c.policy_rule),
    c.proposed_at, c.proposed_event_id, c.action_id, c.args_hash, NULL, c.args_id,
    c.start_id, c.started_at, c.start_event_id, c.end_id, c.ended_at, c.end_event_id,
    c.duration_ms
  FROM tool_calls_v4 c;
DROP TABLE tool_calls_v4;
CREATE INDEX ix_tool_calls_run_id ON tool_calls (run_id);
CREATE VIEW tool_call_events AS ${CALL_EVENTS};
CREATE VIEW IF NOT EXISTS trace_events AS
  SELECT id, timestamp, run_id, event_type, payload, event_id FROM stored_events
  UNION ALL
  SELECT id, timestamp, run_id, event_type, payload, event_id FROM tool_call_events
  ORDER BY id;
CREATE TRIGGER IF NOT EXISTS trace_events_insert INSTEAD OF INSERT ON trace_events BEGIN
  INSERT INTO stored_events (id, timestamp, run_id, event_type, payload, event_id)
    VALUES (coalesce(NEW.id, ${NEXT_ID}), NEW.timestamp, NEW.run_id, NEW.event_type, NEW.payload, NEW.event_id);
  UPDATE trace_event_ids SET next_id = max(next_id, coalesce((SELECT max(id) + 1 FROM stored_events), 1));
END;
CREATE TRIGGER IF NOT EXISTS trace_events_update INSTEAD OF UPDATE ON trace_events BEGIN
  ${EXPAND_CALL_OF_OLD}
  UPDATE stored_events SET id = NEW.id, timestamp = NEW.timestamp, run_id = NEW.run_id,
    event_type = NEW.event_type, payload = NEW.payload, event_id = NEW.event_id
  WHERE id = OLD.id;
  UPDATE trace_event_ids SET next_id = max(next_id, coalesce((SELECT max(id) + 1 FROM stored_events), 1));
END;
CREATE TRIGGER IF NOT EXISTS trace_events_delete INSTEAD OF DELETE ON trace_events BEGIN
  ${EXPAND_CALL_OF_OLD}
  DELETE FROM stored_events WHERE id = OLD.id;
END;
`;

/**
 * SQL giving the first free id of the shared sequence (see the logger's flush).
 *
 * @example
 * db.prepare(`SELECT ${NEXT_EVENT_ID} AS next`).get()
 */
export const NEXT_EVENT_ID = NEXT_ID;
