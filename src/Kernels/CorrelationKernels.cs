using ILGPU;

namespace Tomalign.Kernels;

/// <summary>Sizes of one correlation launch (views nx×ny, padded frames px×py).</summary>
internal readonly struct CorrelationShape
{
    public CorrelationShape(int nx, int ny, int px, int py, int taper, int maxShift, int excludeCentral, float minimumOverlap = 0f)
    {
        Nx = nx; Ny = ny; Px = px; Py = py; Taper = taper; MaxShift = maxShift; ExcludeCentral = excludeCentral;
        MinimumOverlap = minimumOverlap;
        Ox = (px - nx) / 2; Oy = (py - ny) / 2; W = px / 2 + 1;
    }

    public int Nx { get; }
    public int Ny { get; }
    public int Px { get; }
    public int Py { get; }
    public int Ox { get; }
    public int Oy { get; }
    public int W { get; }
    public int Taper { get; }
    public int MaxShift { get; }
    /// <summary>1: skip shifts with |dx|, |dy| ≤ 1.</summary>
    public int ExcludeCentral { get; }
    /// <summary>Skip shifts whose 2-D window overlap overlapX·overlapY is below this (0: only the per-axis tables decide).</summary>
    public float MinimumOverlap { get; }
}

/// <summary>
/// Batched pair correlation (the definition is Core's CorrelationSettings; the managed twin is
/// Cpu's CpuPairCorrelator). Per image of the batch, 8 floats of parameters:
/// b11 b12 b21 b22 (inverse stretch about the centre), mean, clip low, clip high, unused;
/// images 2p and 2p+1 are the reference and moving image of pair p.
/// </summary>
internal static class CorrelationKernels
{
    public const int ParametersPerImage = 8;

    /// <summary>Threads: one per padded pixel, i = (img·py + Y)·px + X. Writes the prepared frame.</summary>
    internal static void Prepare(Index1D i, ArrayView<float> views, ArrayView<int> imageView, ArrayView<float> parameters,
        ArrayView<float> prepared, CorrelationShape s)
    {
        int X = (int)(i % s.Px); long rest = i / s.Px; int Y = (int)(rest % s.Py); int img = (int)(rest / s.Py);
        int x = X - s.Ox, y = Y - s.Oy;
        if (x < 0 || y < 0 || x > s.Nx - 1 || y > s.Ny - 1) { prepared[i] = 0f; return; }
        long po = (long)img * ParametersPerImage;
        float b11 = parameters[po], b12 = parameters[po + 1], b21 = parameters[po + 2], b22 = parameters[po + 3];
        float mean = parameters[po + 4], lo = parameters[po + 5], hi = parameters[po + 6];
        float cx = s.Nx / 2.0f, cy = s.Ny / 2.0f, xc = x - cx, yc = y - cy;
        float sx = b11 * xc + b12 * yc + cx, sy = b21 * xc + b22 * yc + cy;
        float v;
        if (sx < 0 || sy < 0 || sx > s.Nx - 1 || sy > s.Ny - 1) v = mean;
        else
        {
            long vo = (long)imageView[img] * s.Nx * s.Ny;
            int x0 = (int)sx, y0 = (int)sy;
            int x1 = x0 + 1 < s.Nx - 1 ? x0 + 1 : s.Nx - 1, y1 = y0 + 1 < s.Ny - 1 ? y0 + 1 : s.Ny - 1;
            float fx = sx - x0, fy = sy - y0;
            float a = views[vo + (long)y0 * s.Nx + x0], b = views[vo + (long)y0 * s.Nx + x1];
            float c = views[vo + (long)y1 * s.Nx + x0], d = views[vo + (long)y1 * s.Nx + x1];
            float top = a + fx * (b - a), bottom = c + fx * (d - c);
            v = top + fy * (bottom - top);
        }
        v = v < lo ? lo : v > hi ? hi : v;
        prepared[i] = (v - mean) * (Taper(x, s.Nx, s.Taper) * Taper(y, s.Ny, s.Taper));
    }

    private static float Taper(int x, int n, int taper)
    {
        int e = XMathMin(x, n - 1 - x);
        return e >= taper ? 1f : (e + 1f) / (taper + 1f);
    }

    /// <summary>c / O at (i, j) of map offset o; a neighbour outside the searched overlap keeps its raw value.</summary>
    private static float Normalised(ArrayView<float> maps, long o, int px, int i, int j, ArrayView<float> overlapX, ArrayView<float> overlapY)
    {
        float ov = overlapX[i] * overlapY[j];
        float v = maps[o + (long)j * px + i];
        return ov > 0 ? v / ov : v;
    }

    private static int XMathMin(int a, int b) => a < b ? a : b;

    /// <summary>Threads: one per (pair p, ky, kx), kx fastest. product_p = F_2p·conj(F_2p+1)·H.</summary>
    internal static void CrossPower(Index1D i, ArrayView<float> spectra, ArrayView<float> filter, ArrayView<float> product, CorrelationShape s)
    {
        long half = (long)s.W * s.Py;
        long p = i / half, k = i % half;
        long r = 2 * (2 * p * half + k), m = 2 * ((2 * p + 1) * half + k);
        float h = filter[k];
        float rr = spectra[r], ri = spectra[r + 1], mr = spectra[m], mi = spectra[m + 1];
        product[2L * i] = (rr * mr + ri * mi) * h;
        product[2L * i + 1] = (ri * mr - rr * mi) * h;
    }

    /// <summary>Threads: one per (image, ky). rows[i] = Σ_kx weight·|F|²·H for that row, in double.</summary>
    internal static void EnergyRows(Index1D i, ArrayView<float> spectra, ArrayView<float> filter, ArrayView<double> rows, CorrelationShape s)
    {
        long img = i / s.Py; int ky = (int)(i % s.Py);
        long o = (img * s.Py + ky) * s.W;
        double sum = 0;
        for (int kx = 0; kx < s.W; kx++)
        {
            double re = spectra[2 * (o + kx)], im = spectra[2 * (o + kx) + 1];
            double weight = kx == 0 || 2 * kx == s.Px ? 1.0 : 2.0;
            sum += weight * (re * re + im * im) * filter[(long)ky * s.W + kx];
        }
        rows[i] = sum;
    }

    /// <summary>Threads: one per (pair, map row j). The largest allowed value of the row and its x index (first wins).</summary>
    internal static void RowMax(Index1D i, ArrayView<float> maps, ArrayView<float> overlapX, ArrayView<float> overlapY,
        ArrayView<float> rowValue, ArrayView<int> rowX, CorrelationShape s)
    {
        int j = (int)(i % s.Py);
        int dy = j < s.Py / 2 ? j : j - s.Py;
        float best = float.NegativeInfinity; int bx = -1;
        if ((dy < 0 ? -dy : dy) <= s.MaxShift && overlapY[j] != 0)
        {
            long o = (long)(i.X / s.Py) * s.Px * s.Py;
            for (int x = 0; x < s.Px; x++)
            {
                int dx = x < s.Px / 2 ? x : x - s.Px;
                int adx = dx < 0 ? -dx : dx, ady = dy < 0 ? -dy : dy;
                if (adx > s.MaxShift || overlapX[x] == 0 || overlapX[x] * overlapY[j] < s.MinimumOverlap) continue;
                if (s.ExcludeCentral != 0 && adx <= 1 && ady <= 1) continue;
                float v = Normalised(maps, o, s.Px, x, j, overlapX, overlapY);
                if (v > best) { best = v; bx = x; }
            }
        }
        rowValue[i] = best;
        rowX[i] = bx;
    }

    /// <summary>Threads: one per pair. Best row (first wins), then the parabolic sub-pixel fit: peaks[3p..3p+2] = dx, dy, raw map value at the peak.</summary>
    internal static void PairPeak(Index1D index, ArrayView<float> maps, ArrayView<float> overlapX, ArrayView<float> overlapY, ArrayView<float> rowValue, ArrayView<int> rowX, ArrayView<float> peaks, CorrelationShape s)
    {
        int p = index.X;
        float best = float.NegativeInfinity; int bx = -1, by = -1;
        for (int j = 0; j < s.Py; j++)
        {
            float v = rowValue[(long)p * s.Py + j];
            if (rowX[(long)p * s.Py + j] >= 0 && v > best) { best = v; bx = rowX[(long)p * s.Py + j]; by = j; }
        }
        if (bx < 0) { peaks[3L * p] = 0; peaks[3L * p + 1] = 0; peaks[3L * p + 2] = 0; return; }
        long o = (long)p * s.Px * s.Py;
        float xm = Normalised(maps, o, s.Px, (bx + s.Px - 1) % s.Px, by, overlapX, overlapY);
        float xp = Normalised(maps, o, s.Px, (bx + 1) % s.Px, by, overlapX, overlapY);
        float ym = Normalised(maps, o, s.Px, bx, (by + s.Py - 1) % s.Py, overlapX, overlapY);
        float yp = Normalised(maps, o, s.Px, bx, (by + 1) % s.Py, overlapX, overlapY);
        int ix = bx < s.Px / 2 ? bx : bx - s.Px, iy = by < s.Py / 2 ? by : by - s.Py;
        peaks[3L * p] = ix + Parabola(xm, best, xp);
        peaks[3L * p + 1] = iy + Parabola(ym, best, yp);
        peaks[3L * p + 2] = maps[o + (long)by * s.Px + bx];
    }

    private static float Parabola(float m, float c, float p)
    {
        float den = m - 2 * c + p;
        if (!(den < 0)) return 0;
        float d = 0.5f * (m - p) / den;
        return d < -1 ? -1 : d > 1 ? 1 : d;
    }
}
