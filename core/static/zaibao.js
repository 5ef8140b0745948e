/* Actions that text many people, or end something for good, ask first: a form with
   data-confirm is submitted only when the person confirms its question (which says how many).
   Loaded by the staff pages that have such forms (the officers' pages carry no script). */
document.addEventListener("submit", function (event) {
  var form = event.target;
  var question = form && form.dataset ? form.dataset.confirm : "";
  if (question && !window.confirm(question)) { event.preventDefault(); }
}, true);
