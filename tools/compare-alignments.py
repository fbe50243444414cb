#!/usr/bin/env python3
"""Agreement of two alignments of the same stack (IMOD .xf raw -> aligned, and .tlt): the RMS and maximum distance
between where the two put each point of a 16x16 grid over the NX x NY field, over all views, and the largest tilt
difference. Usage: compare-alignments.py NX NY A.xf B.xf [A.tlt B.tlt]
Or, for tools/gpu-parity-zoo.sh's archive unpacked in DIR: compare-alignments.py --zoo DIR NX NY"""
import math, os, re, sys

def xf(path):
    return [list(map(float, l.split())) for l in open(path) if l.strip()]

def tlt(path):
    return [float(l) for l in open(path) if l.strip()]

def device(folder):
    try:
        m = re.search(r'"device": *"([^"]*)"', open(os.path.join(folder, "sim.align.json")).read())
        return m.group(1).split(":")[0] if m else "?"
    except OSError:
        return "?"

def compare(nx, ny, a, b):
    if len(a) != len(b):
        return None
    xc, yc = nx / 2.0, ny / 2.0
    s, n, worst = 0.0, 0, 0.0
    for p, q in zip(a, b):
        for i in range(16):
            for j in range(16):
                x, y = (i + 0.5) * nx / 16 - xc, (j + 0.5) * ny / 16 - yc
                dx = (p[0] - q[0]) * x + (p[1] - q[1]) * y + p[4] - q[4]
                dy = (p[2] - q[2]) * x + (p[3] - q[3]) * y + p[5] - q[5]
                d2 = dx * dx + dy * dy
                s += d2; n += 1; worst = max(worst, math.sqrt(d2))
    return math.sqrt(s / n), worst

def main():
    if sys.argv[1] == "--zoo":
        root, nx, ny = sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
        print(f"{'series':20s} {'rms px':>8s} {'max px':>8s} {'max dtilt':>10s}  devices")
        for st in sorted(os.listdir(root)):
            c, g = os.path.join(root, st, "cpu"), os.path.join(root, st, "cuda")
            if not (os.path.exists(os.path.join(c, "sim.xf")) and os.path.exists(os.path.join(g, "sim.xf"))):
                print(f"{st:20s} (no alignment on both)"); continue
            r = compare(nx, ny, xf(os.path.join(c, "sim.xf")), xf(os.path.join(g, "sim.xf")))
            t = max(abs(u - v) for u, v in zip(tlt(os.path.join(c, "sim.tlt")), tlt(os.path.join(g, "sim.tlt"))))
            devs = f"{device(c)} / {device(g)}"
            print(f"{st:20s} {r[0]:8.4f} {r[1]:8.4f} {t:10.4f}  {devs}" if r else f"{st:20s} different view counts  {devs}")
        return
    nx, ny = int(sys.argv[1]), int(sys.argv[2])
    r = compare(nx, ny, xf(sys.argv[3]), xf(sys.argv[4]))
    print("different view counts" if r is None else f"rms {r[0]:.4f} px, max {r[1]:.4f} px")
    if len(sys.argv) > 6:
        print(f"max tilt difference {max(abs(u - v) for u, v in zip(tlt(sys.argv[5]), tlt(sys.argv[6]))):.4f} deg")

main()
