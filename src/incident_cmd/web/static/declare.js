// The declaration form without surprises: a severity picked in a playbook's card picks that
// playbook, and picking another playbook clears a severity picked in a different card. The
// form works without this; the server refuses a severity of another playbook.
(function () {
  "use strict";
  document.addEventListener("change", function (event) {
    var input = event.target;
    if (!(input instanceof HTMLInputElement) || input.type !== "radio") return;
    var card = input.closest(".playbook-card");
    if (!card) return;
    if (input.name === "severity") {
      var playbook = card.querySelector("input[name=playbook]");
      if (playbook) playbook.checked = true;
    } else if (input.name === "playbook") {
      var picked = document.querySelector("input[name=severity]:checked");
      if (picked && picked.closest(".playbook-card") !== card) picked.checked = false;
    }
  });
})();
