// Replaces lone surrogates in the page's text fields with U+FFFD before Streamlit sends them.
//
// A lone surrogate cannot be encoded as UTF-8: the server fails to read the message and closes
// the connection, and the typed text is lost. This listener runs in the capture phase on the
// window, so it sees each `input` event before React's listener on the app's root does.

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

function setNativeValue(field, value) {
  // The prototype's setter, not `field.value = ...`: React tracks assignments to the element's
  // own property and would take the new value for the old one, missing the change.
  const proto = field instanceof HTMLTextAreaElement ? HTMLTextAreaElement.prototype : HTMLInputElement.prototype;
  Object.getOwnPropertyDescriptor(proto, "value").set.call(field, value);
}

export default function (component) {
  const { setTriggerValue } = component;

  function onInput(event) {
    const field = event.target;
    if (!(field instanceof HTMLTextAreaElement || field instanceof HTMLInputElement)) return;
    const value = field.value;
    const count = (value.match(LONE_SURROGATE) || []).length;
    if (!count) return;
    const caret = field.selectionStart;
    setNativeValue(field, value.replace(LONE_SURROGATE, "\uFFFD"));
    if (caret !== null) field.setSelectionRange(caret, caret);  // same length: the caret stays put
    setTriggerValue("replaced", { field: field.getAttribute("aria-label") || field.name || "", count });
  }

  window.addEventListener("input", onInput, true);
  document.documentElement.setAttribute("data-seqlab-text-guard", "ready");  // for tests to wait on
  return () => {
    window.removeEventListener("input", onInput, true);
    document.documentElement.removeAttribute("data-seqlab-text-guard");
  };
}
