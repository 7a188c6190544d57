// The checkout page. Filled in as the checkout API lands.
import { session } from "./api.js";
import { reportError } from "./feedback.js";

async function start() {
  try {
    await session();
  } catch (err) {
    reportError(err);
  }
  document.documentElement.dataset.ready = "true";
}

start();
