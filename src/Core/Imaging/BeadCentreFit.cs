namespace Tomalign.Core.Imaging;

/// <summary>Result of <see cref="BeadCentreFit.Fit"/>: the centre in image coordinates, the local
/// background, and the integrated bead signal (background − intensity for dark beads).</summary>
public readonly record struct BeadFit(double X, double Y, double Background, double Signal);

/// <summary>
/// Sub-pixel centre of a roughly round bead near a known position: background-subtracted centroid
/// in a disc of radius <c>radius + margin</c>, background = mean of the ring from
/// <c>radius + margin + 1</c> to <see cref="OuterRadius"/>, re-centred until it moves less than
/// 1e−4 pixel. Unbiased for a symmetric bead on a flat background as long as the start is within
/// about <c>margin − 1</c> pixels; background gradients (texture, neighbours) bias it.
/// </summary>
public static class BeadCentreFit
{
    /// <summary>The outermost pixel distance the fit reads (the edge of the background ring).</summary>
    public static double OuterRadius(double radius, double margin = 2.5) => radius + margin + 3.5;

    /// <summary>
    /// Fits the bead near (<paramref name="x0"/>, <paramref name="y0"/>) in one view (nx × ny, x fastest).
    /// Returns null when the ring leaves the image, the signal is not positive, or the centre wanders
    /// more than <paramref name="margin"/> pixels from the start.
    /// </summary>
    public static BeadFit? Fit(ReadOnlySpan<float> view, int nx, int ny, double x0, double y0, double radius,
        bool darkBeads = true, double margin = 2.5, int maxIterations = 20)
    {
        if (view.Length != nx * ny) throw new ArgumentException($"view length {view.Length} != {nx}×{ny}", nameof(view));
        if (!(radius > 0) || !(margin > 0)) throw new ArgumentOutOfRangeException(nameof(radius), "radius and margin must be > 0");
        double rw = radius + margin, rin = rw + 1, rout = OuterRadius(radius, margin);
        double rw2 = rw * rw, rin2 = rin * rin, rout2 = rout * rout;
        double sign = darkBeads ? 1 : -1;
        double cx = x0, cy = y0, bg = 0, signal = 0;
        for (int it = 0; it < maxIterations; it++)
        {
            int xa = (int)Math.Floor(cx - rout), xb = (int)Math.Ceiling(cx + rout);
            int ya = (int)Math.Floor(cy - rout), yb = (int)Math.Ceiling(cy + rout);
            if (xa < 0 || ya < 0 || xb > nx - 1 || yb > ny - 1) return null;
            double ringSum = 0; int ringN = 0;
            for (int y = ya; y <= yb; y++)
                for (int x = xa; x <= xb; x++)
                {
                    double d2 = (x - cx) * (x - cx) + (y - cy) * (y - cy);
                    if (d2 >= rin2 && d2 <= rout2) { ringSum += view[y * nx + x]; ringN++; }
                }
            if (ringN == 0) return null;
            bg = ringSum / ringN;
            double sw = 0, sx = 0, sy = 0;
            for (int y = ya; y <= yb; y++)
                for (int x = xa; x <= xb; x++)
                {
                    double dx = x - cx, dy = y - cy;
                    if (dx * dx + dy * dy > rw2) continue;
                    double w = sign * (bg - view[y * nx + x]);
                    sw += w; sx += w * dx; sy += w * dy;
                }
            if (!(sw > 0)) return null;
            signal = sw;
            double ddx = sx / sw, ddy = sy / sw;
            cx += ddx; cy += ddy;
            if ((cx - x0) * (cx - x0) + (cy - y0) * (cy - y0) > margin * margin) return null;
            if (ddx * ddx + ddy * ddy < 1e-8) break;
        }
        return new BeadFit(cx, cy, bg, signal);
    }
}
