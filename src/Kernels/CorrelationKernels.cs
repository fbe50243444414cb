using ILGPU;

namespace Tomalign.Kernels;

/// <summary>Sizes of one correlation launch (views nx×ny, padded frames px×py).</summary>
internal readonly struct CorrelationShape
{
    public CorrelationShape(int nx, int ny, int px, int py, int taper, int maxShift, int excludeCentral)
    {
        Nx = nx; Ny = ny; Px = px; Py = py; Taper = taper; MaxShift = maxShift; ExcludeCentral = excludeCentral;
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
        int e = XMathMin(XMathMin(x, y), XMathMin(s.Nx - 1 - x, s.Ny - 1 - y));
        float taper = e >= s.Taper ? 1f : (e + 1f) / (s.Taper + 1f);
        prepared[i] = (v - mean) * taper;
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
    internal static void RowMax(Index1D i, ArrayView<float> maps, ArrayView<float> rowValue, ArrayView<int> rowX, CorrelationShape s)
    {
        int j = (int)(i % s.Py);
        int dy = j < s.Py / 2 ? j : j - s.Py;
        float best = float.NegativeInfinity; int bx = -1;
        if ((dy < 0 ? -dy : dy) <= s.MaxShift)
        {
            long o = (long)i.X * s.Px;
            for (int x = 0; x < s.Px; x++)
            {
                int dx = x < s.Px / 2 ? x : x - s.Px;
                int adx = dx < 0 ? -dx : dx, ady = dy < 0 ? -dy : dy;
                if (adx > s.MaxShift) continue;
                if (s.ExcludeCentral != 0 && adx <= 1 && ady <= 1) continue;
                float v = maps[o + x];
                if (v > best) { best = v; bx = x; }
            }
        }
        rowValue[i] = best;
        rowX[i] = bx;
    }

    /// <summary>Threads: one per pair. Best row (first wins), then the parabolic sub-pixel fit: peaks[3p..3p+2] = dx, dy, value.</summary>
    internal static void PairPeak(Index1D index, ArrayView<float> maps, ArrayView<float> rowValue, ArrayView<int> rowX, ArrayView<float> peaks, CorrelationShape s)
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
        float xm = maps[o + (long)by * s.Px + (bx + s.Px - 1) % s.Px], xp = maps[o + (long)by * s.Px + (bx + 1) % s.Px];
        float ym = maps[o + (long)((by + s.Py - 1) % s.Py) * s.Px + bx], yp = maps[o + (long)((by + 1) % s.Py) * s.Px + bx];
        int ix = bx < s.Px / 2 ? bx : bx - s.Px, iy = by < s.Py / 2 ? by : by - s.Py;
        peaks[3L * p] = ix + Parabola(xm, best, xp);
        peaks[3L * p + 1] = iy + Parabola(ym, best, yp);
        peaks[3L * p + 2] = best;
    }

    private static float Parabola(float m, float c, float p)
    {
        float den = m - 2 * c + p;
        if (!(den < 0)) return 0;
        float d = 0.5f * (m - p) / den;
        return d < -1 ? -1 : d > 1 ? 1 : d;
    }
}
