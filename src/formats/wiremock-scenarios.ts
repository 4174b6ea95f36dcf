/**
 * WireMock scenarios (https://wiremock.org/docs/stateful-behaviour/) as
 * recorded order. A scenario is a state machine that starts in "Started";
 * a mapping answers while the scenario is in its `requiredScenarioState` and
 * may move it to `newScenarioState`. WireMock's recorder writes repeated
 * identical requests with different answers as one chain
 * (Started -> scenario-1-path-2 -> scenario-1-path-3 ...), listed newest
 * first. doppel's mock answers repeated identical requests in recorded order,
 * so walking the states from "Started" and emitting each state's mappings
 * (those that stay first, then the one that moves on) gives the same answers.
 */
import type { SkippedRecord } from './import-report.js';

/** WireMock's Scenario.STARTED. */
export const STARTED_STATE = 'Started';

export interface ScenarioMember<T> {
  where: string;
  scenario: string;
  required: string | undefined;
  next: string | undefined;
  item: T;
}

export interface OrderedScenario<T> {
  ordered: Array<ScenarioMember<T>>;
  skipped: SkippedRecord[];
}

/** Orders the members of one scenario (given in file order) into recorded order. */
export function orderScenario<T>(members: ReadonlyArray<ScenarioMember<T>>): OrderedScenario<T> {
  const ordered: Array<ScenarioMember<T>> = [];
  const skipped: SkippedRecord[] = [];
  const pending = new Set(members);
  for (const m of members) {
    if (m.required !== undefined) continue;
    pending.delete(m);
    // no required state: WireMock serves it in every state, so it is one more recording
    if (m.next === undefined || m.next === STARTED_STATE) ordered.push(m);
    else skipped.push({ where: m.where, reason: `scenario "${m.scenario}": moves to state "${m.next}" from any state, which recorded order cannot express` });
  }
  const visited = new Set<string>();
  let state: string | undefined = STARTED_STATE;
  while (state !== undefined && !visited.has(state)) {
    visited.add(state);
    const here = members.filter((m) => pending.has(m) && m.required === state);
    const stays = here.filter((m) => m.next === undefined || m.next === state);
    const moves = here.filter((m) => m.next !== undefined && m.next !== state);
    for (const m of stays) ordered.push(m);
    const [move, ...others] = moves;
    for (const m of [...stays, ...moves]) pending.delete(m);
    for (const m of others) {
      skipped.push({ where: m.where, reason: `scenario "${m.scenario}": state "${state}" also moves to "${move?.next ?? ''}"; recorded order follows one path, not "${m.next ?? ''}"` });
    }
    if (move === undefined) break;
    ordered.push(move);
    state = move.next;
  }
  for (const m of pending) {
    skipped.push({ where: m.where, reason: `scenario "${m.scenario}": state "${m.required ?? ''}" is never reached from "${STARTED_STATE}"` });
  }
  return { ordered, skipped };
}
