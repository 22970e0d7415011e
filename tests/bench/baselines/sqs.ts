/** Baseline of the agents whose actions need no AWS client of their own (diag, ops): the bare consumer. */
import { consumer } from "./consumer.js";

export const handler = consumer(async (params) => params);
