// Small DOM and formatting helpers: every text goes in as text, never as HTML.

export const $ = (selector) => document.querySelector(selector);

export function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value === true ? "" : String(value));
  }
  node.append(...children.filter((c) => c !== null && c !== undefined));
  return node;
}

export function seconds(from, to) {
  if (!from || !to) return null;
  return (new Date(to) - new Date(from)) / 1000;
}

export function duration(value) {
  return value === null ? "–" : `${value.toFixed(2)} s`;
}

export function clock(value) {
  return value ? new Date(value).toLocaleTimeString() : "–";
}

export function badge(state) {
  return el("span", { class: `state state-${state}` }, state);
}

export function reason(error) {
  if (!error) return "";
  return [error.code, error.message].filter(Boolean).join(": ");
}
