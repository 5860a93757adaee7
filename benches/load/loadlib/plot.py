"""The load benchmark's plot as a hand-written SVG (no matplotlib needed): left, each paired scenario's RPS ratio
to its baseline (median bar, min–max whisker, the target as a mark); right, each scaling series' server CPU per
request relative to its smallest size, against size on a log scale.

Runs at the end of `benches/load/bench.py`, from `report.write`.
"""

import math
from xml.sax.saxutils import escape

COLOURS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b"]
# Targets drawn on the bars (ratio of RPS to the baseline).
BAR_TARGETS = {"plain": 1.0, "session-cookie": 0.9, "session-kong": 0.9, "admin-writers": 0.8,
               "connections": 0.9}


def text(x, y, s, size=12, anchor="start", extra=""):
    return (f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" text-anchor="{anchor}" '
            f'font-family="sans-serif" {extra}>{escape(s)}</text>')


def line(x1, y1, x2, y2, colour="#000", width=1, dash=""):
    d = f' stroke-dasharray="{dash}"' if dash else ""
    return (f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" stroke="{colour}" '
            f'stroke-width="{width}"{d}/>')


def bars(paired, x0, y0, w, h):
    """RPS ratio to baseline per scenario, with whiskers and target marks."""
    parts = [text(x0 + w / 2, y0 - 16, "RPS ratio to baseline (median, min–max)", 14, "middle",
                  'font-weight="bold"')]
    names = [n for n in paired if paired[n]["rps_ratio"][0] is not None]
    top = max([1.2] + [paired[n]["rps_ratio"][2] for n in names])
    top = math.ceil(top * 10) / 10
    sy = h / top
    parts.append(line(x0, y0 + h, x0 + w, y0 + h))
    parts.append(line(x0, y0, x0, y0 + h))
    tick = 0.0
    while tick <= top + 1e-9:
        y = y0 + h - tick * sy
        parts.append(line(x0 - 4, y, x0, y))
        parts.append(line(x0, y, x0 + w, y, "#ddd"))
        parts.append(text(x0 - 8, y + 4, f"{tick:.1f}", 11, "end"))
        tick += 0.2
    parts.append(line(x0, y0 + h - sy, x0 + w, y0 + h - sy, "#888", 1, "4 3"))
    if not names:
        parts.append(text(x0 + w / 2, y0 + h / 2, "no paired scenario run", 12, "middle"))
        return parts
    slot = w / len(names)
    for i, n in enumerate(names):
        s = paired[n]
        med, lo, hi = s["rps_ratio"]
        cx = x0 + slot * (i + 0.5)
        bw = slot * 0.55
        colour = COLOURS[0] if s["base_label"] == "nginx" else COLOURS[4]
        parts.append(f'<rect x="{cx - bw / 2:.1f}" y="{y0 + h - med * sy:.1f}" width="{bw:.1f}" '
                     f'height="{med * sy:.1f}" fill="{colour}" opacity="0.8"/>')
        parts.append(line(cx, y0 + h - lo * sy, cx, y0 + h - hi * sy, "#000", 1.5))
        parts.append(line(cx - 6, y0 + h - lo * sy, cx + 6, y0 + h - lo * sy, "#000", 1.5))
        parts.append(line(cx - 6, y0 + h - hi * sy, cx + 6, y0 + h - hi * sy, "#000", 1.5))
        if n in BAR_TARGETS:
            ty = y0 + h - BAR_TARGETS[n] * sy
            parts.append(line(cx - bw / 2 - 4, ty, cx + bw / 2 + 4, ty, "#d62728", 2.5))
        parts.append(text(cx, y0 + h - hi * sy - 6, f"{med:.2f}", 11, "middle"))
        parts.append(text(cx, y0 + h + 16, n, 11, "middle"))
        parts.append(text(cx, y0 + h + 30, f"vs {s['base_label']}", 10, "middle", 'fill="#555"'))
    parts.append(text(x0, y0 + h + 50, "red mark: target; orange bars: baseline is the same gateway (idle, 32 connections)", 10,
                      extra='fill="#555"'))
    return parts


def curves(series, x0, y0, w, h):
    """Server CPU per request relative to the smallest size, per series, log-scale size axis."""
    parts = [text(x0 + w / 2, y0 - 16, "CPU per request relative to the smallest size", 14, "middle",
                  'font-weight="bold"')]
    data = {}
    for name, s in series.items():
        points = [(int(n), s["per_size"][n]["cpu_server"]) for n in s["sizes"]]
        points = [(n, c) for n, c in points if c]
        if points:
            data[name] = [(n, c / points[0][1]) for n, c in points]
    parts.append(line(x0, y0 + h, x0 + w, y0 + h))
    parts.append(line(x0, y0, x0, y0 + h))
    if not data:
        parts.append(text(x0 + w / 2, y0 + h / 2, "no scaling series run", 12, "middle"))
        return parts
    xs = [n for pts in data.values() for n, _ in pts]
    lo_x, hi_x = math.floor(math.log10(min(xs))), math.ceil(math.log10(max(xs)))
    hi_x = max(hi_x, lo_x + 1)
    top = max(2.0, max(c for pts in data.values() for _, c in pts) * 1.1)
    sx = w / (hi_x - lo_x)
    sy = h / top

    def px(n):
        return x0 + (math.log10(n) - lo_x) * sx

    def py(c):
        return y0 + h - c * sy

    for e in range(lo_x, hi_x + 1):
        parts.append(line(px(10 ** e), y0, px(10 ** e), y0 + h, "#ddd"))
        parts.append(text(px(10 ** e), y0 + h + 16, f"{10 ** e:,}", 11, "middle"))
    tick = 0.0
    while tick <= top + 1e-9:
        parts.append(line(x0 - 4, py(tick), x0, py(tick)))
        parts.append(text(x0 - 8, py(tick) + 4, f"{tick:.1f}", 11, "end"))
        tick += 0.5
    parts.append(line(x0, py(1.5), x0 + w, py(1.5), "#d62728", 1.5, "6 3"))
    parts.append(text(x0 + w - 4, py(1.5) - 5, "target 1.5×", 10, "end", 'fill="#d62728"'))
    parts.append(text(x0 + w / 2, y0 + h + 34, "size (routes, credentials, stored sessions)", 11, "middle"))
    for i, (name, pts) in enumerate(data.items()):
        colour = COLOURS[i % len(COLOURS)]
        path = " ".join(f"{px(n):.1f},{py(c):.1f}" for n, c in pts)
        parts.append(f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2"/>')
        for n, c in pts:
            parts.append(f'<circle cx="{px(n):.1f}" cy="{py(c):.1f}" r="3.5" fill="{colour}"/>')
        parts.append(line(x0 + 10, y0 + 14 + 16 * i, x0 + 30, y0 + 14 + 16 * i, colour, 2))
        parts.append(text(x0 + 36, y0 + 18 + 16 * i, name, 11))
    return parts


def svg(paired, series):
    """The whole plot as an SVG document."""
    width, height = 1200, 460
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}">', f'<rect width="{width}" height="{height}" fill="#fff"/>']
    parts += bars(paired, 60, 50, 560, 320)
    parts += curves(series, 720, 50, 440, 320)
    parts.append("</svg>")
    return "\n".join(parts) + "\n"
