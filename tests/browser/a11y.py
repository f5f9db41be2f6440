"""A basic accessibility check run inside the page: what a reviewer would look at first.

lang on <html>; main, banner and (logged in) navigation landmarks; a label for every input;
a name for every button and link; alt on every image; text contrast of at least 4.5:1
(3:1 for large text) against the background it is drawn on.
"""

from __future__ import annotations

from playwright.sync_api import Page

CHECK = r"""
() => {
  const problems = [];
  const html = document.documentElement;
  if (!html.getAttribute("lang")) problems.push("html has no lang");
  if (!document.querySelector("main")) problems.push("no <main> landmark");
  if (!document.querySelector("body > header")) problems.push("no banner (<header>)");
  const visible = el => el.getClientRects().length > 0 &&
    getComputedStyle(el).visibility !== "hidden";

  for (const el of document.querySelectorAll("input, select, textarea")) {
    if (el.type === "hidden") continue;
    const byFor = el.id && document.querySelector(`label[for="${CSS.escape(el.id)}"]`);
    const named = byFor || el.closest("label") || el.getAttribute("aria-label") ||
      el.getAttribute("aria-labelledby");
    if (!named) problems.push("input without a label: " + el.outerHTML.slice(0, 120));
  }
  for (const el of document.querySelectorAll("button, a[href]")) {
    if (!(el.textContent.trim() || el.getAttribute("aria-label")))
      problems.push("control without a name: " + el.outerHTML.slice(0, 120));
  }
  for (const img of document.querySelectorAll("img")) {
    if (!img.hasAttribute("alt")) problems.push("image without alt: " + img.id);
  }

  const parse = value => {
    const m = value.match(/rgba?\(([^)]+)\)/);
    if (!m) return [0, 0, 0, 0];
    const p = m[1].split(/[\s,\/]+/).filter(Boolean).map(Number);
    return [p[0], p[1], p[2], p.length > 3 ? p[3] : 1];
  };
  const over = (top, bottom) => [0, 1, 2].map(i => top[i] * top[3] + bottom[i] * (1 - top[3]));
  const background = el => {
    const layers = [];
    for (let e = el; e; e = e.parentElement) {
      const c = parse(getComputedStyle(e).backgroundColor);
      if (c[3] > 0) { layers.push(c); if (c[3] >= 1) break; }
    }
    let rgb = [255, 255, 255];
    for (const layer of layers.reverse()) rgb = over(layer, rgb);
    return rgb;
  };
  const luminance = rgb => {
    const [r, g, b] = rgb.map(v => {
      v /= 255;
      return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4);
    });
    return 0.2126 * r + 0.7152 * g + 0.0722 * b;
  };
  const ratio = (a, b) => {
    const [hi, lo] = [luminance(a), luminance(b)].sort((x, y) => y - x);
    return (hi + 0.05) / (lo + 0.05);
  };
  for (const el of document.querySelectorAll("body *")) {
    const hasText = Array.from(el.childNodes).some(
      n => n.nodeType === Node.TEXT_NODE && n.textContent.trim());
    if (!hasText || !visible(el)) continue;
    const rect = el.getBoundingClientRect();
    if (rect.width <= 1 || rect.height <= 1) continue;  // visually hidden text
    const style = getComputedStyle(el);
    const bg = background(el);
    const fg = over(parse(style.color), bg);
    const size = parseFloat(style.fontSize);
    const large = size >= 24 || (size >= 18.66 && parseInt(style.fontWeight, 10) >= 700);
    const needed = large ? 3 : 4.5;
    const got = ratio(fg, bg);
    if (got < needed)
      problems.push(`contrast ${got.toFixed(2)} < ${needed} for "${el.textContent.trim()
        .slice(0, 40)}" (${style.color} on rgb(${bg.map(Math.round)}))`);
  }
  return problems;
}
"""

FOCUS = r"""
() => {
  const el = document.activeElement;
  if (!el || el === document.body) return null;
  const style = getComputedStyle(el);
  return {
    what: el.outerHTML.slice(0, 80),
    outline: style.outlineStyle !== "none" && parseFloat(style.outlineWidth) >= 2,
  };
}
"""


def problems(page: Page) -> list[str]:
    return list(page.evaluate(CHECK))


def focus_problems(page: Page, presses: int = 30) -> tuple[int, list[str]]:
    """Tab through the page; every focused element must show an outline of 2px or more."""
    page.locator("body").focus()
    checked, missing = 0, []
    for _ in range(presses):
        page.keyboard.press("Tab")
        focused = page.evaluate(FOCUS)
        if focused is None:
            continue
        checked += 1
        if not focused["outline"]:
            missing.append(focused["what"])
    return checked, missing
