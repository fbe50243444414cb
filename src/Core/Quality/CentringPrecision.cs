using Tomalign.Core.Imaging;
using Tomalign.Core.Solve;

namespace Tomalign.Core.Quality;

/// <summary>
/// The precision with which the images allow a bead's centre to be measured: the Cramér–Rao bound of a known template
/// in white noise, σ_x = σ_n / √Σ(∂b/∂x)², with the template b the mean of the tracked beads (each resampled about its
/// measured centre, its ring background removed) and σ_n the median SD of the pixels in the ring around each bead
/// (shot noise and texture together). No tracker beats it; a solve whose residual noise lies far below it has absorbed
/// the noise in its own unknowns, and one far above it has tracking errors or a model that does not fit.
/// </summary>
public static class CentringPrecision
{
    /// <summary>At most this many observations are sampled (evenly over the list): enough for a smooth mean and a stable median.</summary>
    public const int MaxSamples = 400;

    /// <summary>
    /// The bound per axis in pixels for beads of <paramref name="diameter"/> at <paramref name="observations"/> in
    /// <paramref name="stack"/> (the stack they were measured on); null with fewer than 10 usable beads or no contrast.
    /// </summary>
    public static double? BeadBound(ImageStack stack, IReadOnlyList<LandmarkObservation> observations, double diameter)
    {
        ArgumentNullException.ThrowIfNull(stack);
        ArgumentNullException.ThrowIfNull(observations);
        if (!(diameter > 0) || observations.Count == 0) return null;
        double r = diameter / 2, rin = r + 1, rout = r + 3;
        int h = (int)Math.Ceiling(rout) + 1, w = 2 * h + 1;
        int nx = stack.Nx, ny = stack.Ny;
        var sum = new double[w * w];
        var ringSds = new List<double>();
        int used = 0, step = Math.Max(1, observations.Count / MaxSamples);
        for (int k = 0; k < observations.Count; k += step)
        {
            var o = observations[k];
            if ((uint)o.View >= (uint)stack.Nz || o.X < h + 1 || o.Y < h + 1 || o.X > nx - h - 2 || o.Y > ny - h - 2) continue;
            var view = stack.Data.AsSpan(o.View * nx * ny, nx * ny);
            // Ring statistics at whole pixels (no interpolation to smooth the noise).
            double s = 0, s2 = 0; int n = 0;
            int x0 = (int)Math.Round(o.X), y0 = (int)Math.Round(o.Y);
            for (int y = y0 - h; y <= y0 + h; y++)
                for (int x = x0 - h; x <= x0 + h; x++)
                {
                    double d2 = (x - o.X) * (x - o.X) + (y - o.Y) * (y - o.Y);
                    if (d2 < rin * rin || d2 > rout * rout) continue;
                    double v = view[y * nx + x];
                    s += v; s2 += v * v; n++;
                }
            if (n < 8) continue;
            double mean = s / n;
            ringSds.Add(Math.Sqrt(Math.Max(0, s2 / n - mean * mean)));
            // The bead about its measured centre, background removed (bilinear).
            for (int j = 0; j < w; j++)
                for (int i = 0; i < w; i++)
                {
                    double x = o.X + i - h, y = o.Y + j - h;
                    int xi = (int)Math.Floor(x), yi = (int)Math.Floor(y);
                    double fx = x - xi, fy = y - yi;
                    double a = view[yi * nx + xi], b = view[yi * nx + xi + 1], c = view[(yi + 1) * nx + xi], d = view[(yi + 1) * nx + xi + 1];
                    sum[j * w + i] += (a + fx * (b - a)) * (1 - fy) + (c + fx * (d - c)) * fy - mean;
                }
            used++;
        }
        if (used < 10) return null;
        double gradient = 0;
        for (int j = 1; j < w - 1; j++)
            for (int i = 1; i < w - 1; i++)
            {
                double dx = (sum[j * w + i + 1] - sum[j * w + i - 1]) / (2.0 * used);
                double dy = (sum[(j + 1) * w + i] - sum[(j - 1) * w + i]) / (2.0 * used);
                gradient += 0.5 * (dx * dx + dy * dy);   // per axis, averaged over x and y
            }
        ringSds.Sort();
        double noise = ringSds[ringSds.Count / 2];
        return gradient > 0 && noise > 0 ? noise / Math.Sqrt(gradient) : null;
    }
}
