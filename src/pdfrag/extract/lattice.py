"""Cells of ruled tables from horizontal and vertical rules.

pdfplumber's lattice algorithm (snap and join the rules, intersect them,
close the smallest cell at each intersection, group cells that share
corners into tables) with the same results, indexed instead of scanned: pdfplumber compares
every vertical rule with every horizontal one, and every point with all
the points after it, which cost seconds on pages of forms and schematics.
Rules are tuples ``(position, start, end)``: ``(y, x0, x1)`` for
horizontal ones, ``(x, top, bottom)`` for vertical ones.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections import defaultdict

Point = tuple[float, float]
Cell = tuple[float, float, float, float]
Rule = tuple[float, float, float]  # (position across, start, end along): (y, x0, x1) or (x, top, bottom)
EdgeKey = tuple[float, float, float]


def _clusters(rules: list[Rule], tolerance: float) -> list[list[Rule]]:
    """Rules whose positions chain within ``tolerance`` of each other, each
    cluster in the rules' own order (pdfplumber's ``cluster_objects``)."""
    values = sorted({r[0] for r in rules})
    ids: dict[float, int] = {}
    k = 0
    for i, x in enumerate(values):
        if i and x > values[i - 1] + tolerance:
            k += 1
        ids[x] = k
    groups: dict[int, list[Rule]] = defaultdict(list)
    for r in rules:
        groups[ids[r[0]]].append(r)
    return [groups[i] for i in sorted(groups)]


def merge(rules: list[Rule], snap: float = 3, join: float = 3) -> list[Rule]:
    """Rules of one orientation snapped to their cluster's mean position and
    joined where they touch or overlap along (pdfplumber's ``merge_edges``,
    to the same floating-point results)."""
    snapped: list[Rule] = []
    for cluster in _clusters(rules, snap):
        mean = sum(r[0] for r in cluster) / len(cluster)
        snapped += [(r[0] + (mean - r[0]), r[1], r[2]) for r in cluster]
    by_position: dict[float, list[Rule]] = defaultdict(list)
    for r in snapped:
        by_position[r[0]].append(r)
    out: list[Rule] = []
    for pos in sorted(by_position):
        group = sorted(by_position[pos], key=lambda r: r[1])
        joined = [group[0]]
        for r in group[1:]:
            last = joined[-1]
            if r[1] <= last[2] + join:
                if r[2] > last[2]:
                    joined[-1] = (last[0], last[1], r[2])
            else:
                joined.append(r)
        out += joined
    return out


def intersections(h_rules: list[Rule], v_rules: list[Rule], x_tolerance: float = 3, y_tolerance: float = 3) -> dict[Point, tuple[set[EdgeKey], set[EdgeKey]]]:
    """Points where a vertical rule meets a horizontal one (within the
    tolerances), each with its vertical and horizontal rules."""
    h_sorted = sorted(h_rules, key=lambda h: (h[0], h[1]))
    h_tops = [h[0] for h in h_sorted]
    out: dict[Point, tuple[set[EdgeKey], set[EdgeKey]]] = {}
    for v in v_rules:
        x = v[0]
        lo, hi = bisect_left(h_tops, v[1] - y_tolerance), bisect_right(h_tops, v[2] + y_tolerance)
        for j in range(lo, hi):
            h = h_sorted[j]
            if h[1] - x_tolerance <= x <= h[2] + x_tolerance:
                vs, hs = out.setdefault((x, h[0]), (set(), set()))
                vs.add(v)
                hs.add(h)
    return out


def cells(points: dict[Point, tuple[set[EdgeKey], set[EdgeKey]]]) -> list[Cell]:
    """The smallest closed cell whose top-left corner is each point."""
    ordered = sorted(points)
    same_x: dict[float, list[Point]] = defaultdict(list)
    same_y: dict[float, list[Point]] = defaultdict(list)
    at_x: dict[Point, int] = {}  # each point's index in its column and in its row
    at_y: dict[Point, int] = {}
    for p in ordered:  # sorted, so each list is in the points' order
        column, row = same_x[p[0]], same_y[p[1]]
        at_x[p] = len(column)
        at_y[p] = len(row)
        column.append(p)
        row.append(p)

    out: list[Cell] = []
    for pt in ordered:
        vs, hs = points[pt]
        below = same_x[pt[0]][at_x[pt] + 1 :]
        right = None  # the points to the right joined to pt by a rule, found once
        found = None
        for b in below:
            b_vs, b_hs = points[b]
            if vs.isdisjoint(b_vs):
                continue
            if right is None:
                right = [r for r in same_y[pt[1]][at_y[pt] + 1 :] if not hs.isdisjoint(points[r][1])]
            for r in right:
                corner = points.get((r[0], b[1]))
                if corner is not None and not corner[0].isdisjoint(points[r][0]) and not corner[1].isdisjoint(b_hs):
                    found = (pt[0], pt[1], r[0], b[1])
                    break
            if found:
                break
        if found:
            out.append(found)
    return out


def tables(found: list[Cell]) -> list[list[Cell]]:
    """Cells grouped into tables (cells sharing a corner are one table),
    top to bottom; single cells are not tables."""
    parent = list(range(len(found)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    owner: dict[Point, int] = {}
    for i, (x0, y0, x1, y1) in enumerate(found):
        for corner in ((x0, y0), (x0, y1), (x1, y0), (x1, y1)):
            j = owner.setdefault(corner, i)
            if j != i:
                parent[root(i)] = root(j)
    groups: dict[int, list[Cell]] = defaultdict(list)
    for i, c in enumerate(found):
        groups[root(i)].append(c)
    out = [g for g in groups.values() if len(g) > 1]
    return sorted(out, key=lambda t: min((c[1], c[0]) for c in t))
