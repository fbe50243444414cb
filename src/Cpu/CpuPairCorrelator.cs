using Tomalign.Core.Backend;
using Tomalign.Core.Geometry;
using Tomalign.Cpu.Fft;

namespace Tomalign.Cpu;

/// <summary>
/// The managed <see cref="IPairCorrelator"/>: pairs are processed in chunks (bounded memory);
/// within a chunk every image is prepared (stretch, clip, taper, pad), transformed by one batched
/// FFT, multiplied and filtered, transformed back by one batched inverse FFT, and searched for
/// its peak; each step is a Parallel.For over the chunk.
/// </summary>
public sealed class CpuPairCorrelator : IPairCorrelator
{
    private readonly IFft2D _fft;

    public CpuPairCorrelator(IFft2D? fft = null, int pairsPerChunk = 8)
    {
        _fft = fft ?? new ManagedFft2D();
        if (pairsPerChunk < 1) throw new ArgumentOutOfRangeException(nameof(pairsPerChunk));
        PairsPerChunk = pairsPerChunk;
    }

    public int PairsPerChunk { get; }

    public CorrelationPeak[] Correlate(ReadOnlySpan<float> views, int nx, int ny, int nz, ReadOnlySpan<ViewStatistics> statistics,
        ReadOnlySpan<CorrelationPair> pairs, CorrelationSettings settings)
    {
        CorrelationArguments.Validate(views.Length, nx, ny, nz, statistics.Length, pairs, settings);
        var result = new CorrelationPeak[pairs.Length];
        if (pairs.Length == 0) return result;
        int px = settings.PaddedWidth, py = settings.PaddedHeight, w = px / 2 + 1;
        long frame = (long)px * py, half = 2L * w * py;
        var filter = settings.Filter.HalfSpectrumTable(px, py);
        var overlapX = settings.OverlapTable(nx, px);
        var overlapY = settings.OverlapTable(ny, py);
        var viewArray = views.ToArray();
        var stats = statistics.ToArray();
        int chunk = Math.Min(PairsPerChunk, pairs.Length);
        var prepared = new float[2 * chunk * frame];
        var spectra = new float[2 * chunk * half];
        var product = new float[chunk * half];
        var maps = new float[chunk * frame];

        for (int start = 0; start < pairs.Length; start += chunk)
        {
            int count = Math.Min(chunk, pairs.Length - start);
            var batch = pairs.Slice(start, count).ToArray();
            Parallel.For(0, 2 * count * py, row =>
            {
                int img = row / py, y = row % py;
                var pair = batch[img / 2];
                bool moving = img % 2 == 1;
                int view = moving ? pair.Moving : pair.Reference;
                var inv = moving ? pair.MovingStretch.Inverse() : Xf.Identity;
                PrepareRow(viewArray, view, nx, ny, stats[view], inv, settings, y, prepared.AsSpan((int)(img * frame + (long)y * px), px));
            });
            _fft.Forward(prepared.AsSpan(0, (int)(2 * count * frame)), px, py, 2 * count, spectra.AsSpan(0, (int)(2 * count * half)));

            var energy = new double[2 * count];
            Parallel.For(0, 2 * count, img => energy[img] = FilteredEnergy(spectra.AsSpan((int)(img * half), (int)half), px, py, filter));
            Parallel.For(0, count * py, row =>
            {
                int p = row / py, ky = row % py;
                var r = spectra.AsSpan((int)(2 * p * half + 2L * ky * w), 2 * w);
                var m = spectra.AsSpan((int)((2 * p + 1) * half + 2L * ky * w), 2 * w);
                var o = product.AsSpan((int)(p * half + 2L * ky * w), 2 * w);
                for (int kx = 0; kx < w; kx++)
                {
                    float h = filter[ky * w + kx];
                    float rr = r[2 * kx], ri = r[2 * kx + 1], mr = m[2 * kx], mi = m[2 * kx + 1];
                    o[2 * kx] = (rr * mr + ri * mi) * h;
                    o[2 * kx + 1] = (ri * mr - rr * mi) * h;
                }
            });
            _fft.Inverse(product.AsSpan(0, (int)(count * half)), px, py, count, maps.AsSpan(0, (int)(count * frame)));
            Parallel.For(0, count, p =>
            {
                var (dx, dy, value) = FindPeak(maps.AsSpan((int)(p * frame), (int)frame), px, py, settings, overlapX, overlapY);
                double norm = Math.Sqrt(energy[2 * p] * energy[2 * p + 1]);
                double strength = norm > 0 ? value / frame / norm : 0;
                result[start + p] = new CorrelationPeak(dx, dy, double.IsFinite(strength) ? strength : 0);
            });
        }
        return result;
    }

    /// <summary>One padded row of one prepared image (the definition in <see cref="CorrelationSettings"/>).</summary>
    internal static void PrepareRow(float[] views, int view, int nx, int ny, ViewStatistics stat, Xf inverse,
        CorrelationSettings s, int paddedY, Span<float> output)
    {
        int ox = (s.PaddedWidth - nx) / 2, oy = (s.PaddedHeight - ny) / 2;
        int y = paddedY - oy;
        output.Clear();
        if (y < 0 || y > ny - 1) return;
        float mean = (float)stat.Mean;
        var (lo, hi) = s.ClipBounds(stat);
        float cx = nx / 2.0f, cy = ny / 2.0f;
        float b11 = (float)inverse.A11, b12 = (float)inverse.A12, b21 = (float)inverse.A21, b22 = (float)inverse.A22;
        long vo = (long)view * nx * ny;
        float yc = y - cy, ty = s.Taper(y, ny);
        for (int x = 0; x < nx; x++)
        {
            float xc = x - cx;
            float sx = b11 * xc + b12 * yc + cx, sy = b21 * xc + b22 * yc + cy;
            float v;
            if (sx < 0 || sy < 0 || sx > nx - 1 || sy > ny - 1) v = mean;
            else
            {
                int x0 = (int)sx, y0 = (int)sy;
                int x1 = Math.Min(x0 + 1, nx - 1), y1 = Math.Min(y0 + 1, ny - 1);
                float fx = sx - x0, fy = sy - y0;
                float a = views[vo + (long)y0 * nx + x0], b = views[vo + (long)y0 * nx + x1];
                float c = views[vo + (long)y1 * nx + x0], d = views[vo + (long)y1 * nx + x1];
                float top = a + fx * (b - a), bottom = c + fx * (d - c);
                v = top + fy * (bottom - top);
            }
            v = Math.Clamp(v, lo, hi);
            output[ox + x] = (v - mean) * (s.Taper(x, nx) * ty);
        }
    }

    /// <summary>(1/N)·Σ_k weight·|F(k)|²·H(k) over the half spectrum (interior columns count twice).</summary>
    internal static double FilteredEnergy(ReadOnlySpan<float> spectrum, int px, int py, float[] filter)
    {
        int w = px / 2 + 1;
        double sum = 0;
        for (int ky = 0; ky < py; ky++)
            for (int kx = 0; kx < w; kx++)
            {
                double re = spectrum[2 * (ky * w + kx)], im = spectrum[2 * (ky * w + kx) + 1];
                double weight = kx == 0 || 2 * kx == px ? 1 : 2;
                sum += weight * (re * re + im * im) * filter[ky * w + kx];
            }
        return sum / ((double)px * py);
    }

    /// <summary>The peak search and sub-pixel fit of <see cref="CorrelationSettings"/>; value is the raw (not overlap-normalised) map at the integer peak.</summary>
    internal static (double Dx, double Dy, double Value) FindPeak(ReadOnlySpan<float> map, int px, int py, CorrelationSettings s,
        float[] overlapX, float[] overlapY)
    {
        float best = float.NegativeInfinity; int bx = 0, by = 0;
        for (int j = 0; j < py; j++)
        {
            int dy = j < py / 2 ? j : j - py;
            if (Math.Abs(dy) > s.MaxShift || overlapY[j] == 0) continue;
            for (int i = 0; i < px; i++)
            {
                int dx = i < px / 2 ? i : i - px;
                if (Math.Abs(dx) > s.MaxShift || overlapX[i] == 0) continue;
                // The 2-D overlap decides, not each axis alone: at a corner shift each axis may pass
                // while the product is ~1/16 and would amplify noise 16× (it did, on 192² series).
                if (s.NormalizeOverlap && overlapX[i] * overlapY[j] < CorrelationSettings.MinimumOverlap) continue;
                if (s.ExcludeCentralPeak && Math.Abs(dx) <= 1 && Math.Abs(dy) <= 1) continue;
                float v = Normalised(map, px, i, j, overlapX, overlapY);
                if (v > best) { best = v; bx = i; by = j; }
            }
        }
        if (float.IsNegativeInfinity(best)) return (0, 0, 0);
        double c0 = best;
        double xm = Normalised(map, px, (bx + px - 1) % px, by, overlapX, overlapY), xp = Normalised(map, px, (bx + 1) % px, by, overlapX, overlapY);
        double ym = Normalised(map, px, bx, (by + py - 1) % py, overlapX, overlapY), yp = Normalised(map, px, bx, (by + 1) % py, overlapX, overlapY);
        double ddx = Parabola(xm, c0, xp), ddy = Parabola(ym, c0, yp);
        int ix = bx < px / 2 ? bx : bx - px, iy = by < py / 2 ? by : by - py;
        return (ix + ddx, iy + ddy, map[by * px + bx]);
    }

    /// <summary>c / O at (i, j); a neighbour outside the searched overlap keeps its raw value.</summary>
    private static float Normalised(ReadOnlySpan<float> map, int px, int i, int j, float[] overlapX, float[] overlapY)
    {
        float o = overlapX[i] * overlapY[j];
        float v = map[j * px + i];
        return o > 0 ? v / o : v;
    }

    internal static double Parabola(double m, double c, double p)
    {
        double den = m - 2 * c + p;
        if (!(den < 0)) return 0;
        return Math.Clamp(0.5 * (m - p) / den, -1, 1);
    }
}
