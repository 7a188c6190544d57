// The order page's "Buy again", for the signed-in owner of the order (the API answers
// 404 for anyone else, so the button is offered to signed-in shoppers only).
import { session } from "./api.js";
import { buyAgain } from "./buy_again.js";
import { announce, reportError } from "./feedback.js";

const box = document.getElementById("order-again");
const button = document.getElementById("buy-again");
const status = document.getElementById("buy-again-status");

button.addEventListener("click", async () => {
  button.disabled = true;
  try {
    await buyAgain(box.dataset.orderId, status);
    announce(status.textContent);
  } catch (err) {
    reportError(err.status === 404 ? { message: "Only the account that placed this order can buy it again." } : err);
  } finally {
    button.disabled = false;
  }
});

session().then((s) => { box.hidden = s.kind !== "registered"; }).catch(() => {});
