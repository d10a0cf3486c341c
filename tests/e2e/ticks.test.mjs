// The energy histogram's tick labels (www/ui.js tickLabels): as many decimals as the spacing
// needs, so ticks 0.0002 apart never print the same number five times.
import { test } from "node:test";
import assert from "node:assert/strict";
import { tickLabels } from "../../www/ui.js";

test("tick labels keep the precision of their spacing", () => {
  const close = [-1.9574, -1.9572, -1.957, -1.9568, -1.9566];
  const labels = tickLabels(close);
  assert.equal(new Set(labels).size, close.length, `distinct labels: ${labels}`);
  assert.deepEqual(labels, ["-1.9574", "-1.9572", "-1.9570", "-1.9568", "-1.9566"]);
  assert.deepEqual(tickLabels([0, 5, 10]), ["0", "5", "10"]);
  assert.deepEqual(tickLabels([0.1, 0.2, 0.3]), ["0.1", "0.2", "0.3"]);
  assert.deepEqual(tickLabels([2]), ["2.000"]);
});
