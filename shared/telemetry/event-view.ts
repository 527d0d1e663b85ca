// Schema version 4 stores trace events in two forms and shows them as one:
//
// - `stored_events`: events with their full payload (the seed's
//   `trace_events` table as it was, renamed);
// - `tool_calls`: one row per allowed call (its `action_proposed`, and once
//   known its `tool_execution_start` and successful `tool_execution_end`),
//   with the arguments once in `tool_args`;
// - `trace_events`: a view, the union of both, with the seed's columns, ids,
//   order, timestamps and payload text exactly as the full rows would have
//   had them. Triggers let other writers (the Python library, scripts) insert,
//   update and delete through it as through the table.
//
// Ids come from one sequence (`trace_event_ids`) shared by both forms, so
// `ORDER BY id` is still the order events were logged. The view itself is
// ordered by id: a query without ORDER BY (a researcher's quick script) got
// the table's rows in id order, and gets them so from the view too.

/** The `action_proposed` payload of a `tool_calls` row `c` with its arguments `a`, as JSON.stringify wrote it. */
const PROPOSED_PAYLOAD = `'{"action_id":"' || c.action_id || '","tool_name":"' || c.tool_name ||
  '","args_hash":"' || c.args_hash || '","risk_class":"' || c.risk_class ||
  '","side_effects":' || c.side_effects || ',"tool_args":' || a.args ||
  ',"rationale":"' || c.rationale || '","context_refs":' || c.context_refs ||
  CASE WHEN c.server IS NULL THEN '' ELSE ',"server":"' || c.server || '"' END ||
  CASE WHEN c.annotations IS NULL THEN '' ELSE ',"annotations":' || c.annotations END ||
  ',"policy_name":"' || c.policy_name || '","policy_verdict":"allow","policy_reason":"' ||
  c.policy_reason || '","policy_rule":' ||
  CASE WHEN c.policy_rule IS NULL THEN 'null' ELSE '"' || c.policy_rule || '"' END || '}'`;

const START_PAYLOAD = `'{"action_id":"' || c.action_id || '","tool_name":"' || c.tool_name ||
  '","tool_args":' || a.args || '}'`;

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
  FROM tool_calls c JOIN tool_args a ON a.id = c.args_id
  UNION ALL
  SELECT c.id, c.start_id, c.started_at, c.run_id, ${kind('tool_execution_start')},
         ${json(START_PAYLOAD)}, c.start_event_id
  FROM tool_calls c JOIN tool_args a ON a.id = c.args_id WHERE c.start_id IS NOT NULL
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

/**
 * DDL of version 4's event storage, run after `trace_events` (the table) was
 * renamed to `stored_events` or created under that name.
 *
 * @example
 * db.exec('ALTER TABLE trace_events RENAME TO stored_events'); db.exec(EVENT_VIEW_DDL);
 */
export const EVENT_VIEW_DDL = `
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
  risk_class TEXT NOT NULL,
  side_effects TEXT NOT NULL,
  rationale TEXT NOT NULL,
  context_refs TEXT NOT NULL,
  server TEXT,
  annotations TEXT,
  policy_name TEXT NOT NULL,
  policy_reason TEXT NOT NULL,
  policy_rule TEXT,
  start_id INTEGER,
  started_at DATETIME,
  start_event_id TEXT,
  end_id INTEGER,
  ended_at DATETIME,
  end_event_id TEXT,
  duration_ms TEXT
);
CREATE INDEX IF NOT EXISTS ix_tool_calls_run_id ON tool_calls (run_id);
CREATE TABLE IF NOT EXISTS trace_event_ids (next_id INTEGER NOT NULL);
INSERT INTO trace_event_ids (next_id)
  SELECT coalesce(max(id), 0) + 1 FROM stored_events
  WHERE NOT EXISTS (SELECT 1 FROM trace_event_ids);
CREATE VIEW IF NOT EXISTS tool_call_events AS ${CALL_EVENTS};
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
