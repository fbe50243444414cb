using System.Runtime.CompilerServices;
using Tomalign.Core.Backend;
using Tomalign.Core.Geometry;

namespace Tomalign.Cpu;

/// <summary>
/// The managed stack warp: IStackWarper's definition, written independently of the ILGPU kernel
/// (it is the kernel's test oracle). Rows of all views are spread over the thread pool.
/// Arithmetic is single precision, like the kernel, except the source positions: they are computed in double, as
/// (B11·dx + B12·dy) + Cx with the inverse coefficients rounded to float once per view, so that the products are
/// exact and the position is the kernel's bit for bit on any device (see WarpMath.SourceX).
/// </summary>
public sealed class CpuStackWarper : IStackWarper
{
    private readonly int _maxThreads;

    /// <param name="maxThreads">upper bound on worker threads; ≤ 0 means all cores.</param>
    public CpuStackWarper(int maxThreads = 0) => _maxThreads = maxThreads;

    public unsafe void Warp(ReadOnlySpan<float> source, int nx, int ny, int nz, ReadOnlySpan<Xf> transforms,
        ReadOnlySpan<float> fill, WarpOptions options, Span<float> destination)
    {
        WarpArguments.Validate(source, nx, ny, nz, transforms, fill, options, destination);
        var views = new ViewCoefficients[nz];
        for (int z = 0; z < nz; z++) views[z] = ViewCoefficients.From(transforms[z], nx, ny, fill[z]);

        fixed (float* src = source)
        fixed (float* dst = destination)
        {
            var job = new RowJob(src, dst, nx, ny, options.Bin, options.OutputWidth(nx), options.OutputHeight(ny), views);
            int rows = job.Nyo * nz;
            var parallel = new ParallelOptions { MaxDegreeOfParallelism = _maxThreads > 0 ? _maxThreads : -1 };
            if (options.Interpolation == Interpolation.Cubic)
                Parallel.For(0, rows, parallel, row => job.CubicRow(row));
            else
                Parallel.For(0, rows, parallel, row => job.LinearRow(row));
        }
    }

    /// <summary>One view's inverse transform as floats, with the centre folded into the offsets.</summary>
    private readonly record struct ViewCoefficients(float B11, float B12, float B21, float B22, float Cx, float Cy, float Fill)
    {
        public static ViewCoefficients From(Xf forward, int nx, int ny, float fill)
        {
            Xf inv = forward.Inverse();
            return new((float)inv.A11, (float)inv.A12, (float)inv.A21, (float)inv.A22,
                (float)(inv.Dx + nx / 2.0), (float)(inv.Dy + ny / 2.0), fill);
        }
    }

    private readonly unsafe struct RowJob
    {
        private readonly float* _src, _dst;
        private readonly int _nx, _ny, _bin;
        private readonly float _xc, _yc, _lastX, _lastY, _binScale;
        private readonly ViewCoefficients[] _views;
        public readonly int Nxo, Nyo;

        public RowJob(float* src, float* dst, int nx, int ny, int bin, int nxo, int nyo, ViewCoefficients[] views)
        {
            _src = src; _dst = dst; _nx = nx; _ny = ny; _bin = bin; Nxo = nxo; Nyo = nyo; _views = views;
            _xc = nx / 2.0f; _yc = ny / 2.0f; _lastX = nx - 1; _lastY = ny - 1;
            _binScale = 1.0f / (bin * bin);
        }

        public void LinearRow(int row)
        {
            int z = row / Nyo, j = row - z * Nyo;
            ViewCoefficients c = _views[z];
            float* view = _src + (long)z * _nx * _ny;
            float* outRow = _dst + (long)row * Nxo;
            int bin = _bin, nx = _nx;
            for (int i = 0; i < Nxo; i++)
            {
                float acc = 0.0f;
                for (int l = 0; l < bin; l++)
                {
                    float dy = (j * bin + l) - _yc;
                    double yTermX = (double)c.B12 * dy, yTermY = (double)c.B22 * dy;
                    for (int k = 0; k < bin; k++)
                    {
                        float dx = (i * bin + k) - _xc;
                        double sx = (double)c.B11 * dx + yTermX + c.Cx;
                        double sy = (double)c.B21 * dx + yTermY + c.Cy;
                        if (!(sx >= 0.0 && sx <= _lastX && sy >= 0.0 && sy <= _lastY)) { acc += c.Fill; continue; }
                        int x0 = (int)sx, y0 = (int)sy;                 // non-negative: truncation = floor
                        float tx = (float)(sx - x0), ty = (float)(sy - y0);
                        int x1 = x0 < nx - 1 ? x0 + 1 : x0;
                        float* r0 = view + (long)y0 * nx;
                        float* r1 = y0 < _ny - 1 ? r0 + nx : r0;
                        float upper = r0[x0] * (1.0f - tx) + r0[x1] * tx;
                        float lower = r1[x0] * (1.0f - tx) + r1[x1] * tx;
                        acc += upper * (1.0f - ty) + lower * ty;
                    }
                }
                outRow[i] = bin == 1 ? acc : acc * _binScale;
            }
        }

        public void CubicRow(int row)
        {
            int z = row / Nyo, j = row - z * Nyo;
            ViewCoefficients c = _views[z];
            float* view = _src + (long)z * _nx * _ny;
            float* outRow = _dst + (long)row * Nxo;
            int bin = _bin, nx = _nx, ny = _ny;
            for (int i = 0; i < Nxo; i++)
            {
                float acc = 0.0f;
                for (int l = 0; l < bin; l++)
                {
                    float dy = (j * bin + l) - _yc;
                    double yTermX = (double)c.B12 * dy, yTermY = (double)c.B22 * dy;
                    for (int k = 0; k < bin; k++)
                    {
                        float dx = (i * bin + k) - _xc;
                        double sx = (double)c.B11 * dx + yTermX + c.Cx;
                        double sy = (double)c.B21 * dx + yTermY + c.Cy;
                        if (!(sx >= 0.0 && sx <= _lastX && sy >= 0.0 && sy <= _lastY)) { acc += c.Fill; continue; }
                        int x0 = (int)sx, y0 = (int)sy;
                        float tx = (float)(sx - x0), ty = (float)(sy - y0);
                        KeysWeights(tx, out float ax, out float bx, out float cx, out float dxw);
                        KeysWeights(ty, out float ay, out float by, out float cy, out float dyw);
                        int xm = Math.Max(x0 - 1, 0), xp = Math.Min(x0 + 1, nx - 1), xpp = Math.Min(x0 + 2, nx - 1);
                        acc += ay * Row(view + (long)Math.Max(y0 - 1, 0) * nx, xm, x0, xp, xpp, ax, bx, cx, dxw)
                             + by * Row(view + (long)y0 * nx, xm, x0, xp, xpp, ax, bx, cx, dxw)
                             + cy * Row(view + (long)Math.Min(y0 + 1, ny - 1) * nx, xm, x0, xp, xpp, ax, bx, cx, dxw)
                             + dyw * Row(view + (long)Math.Min(y0 + 2, ny - 1) * nx, xm, x0, xp, xpp, ax, bx, cx, dxw);
                    }
                }
                outRow[i] = bin == 1 ? acc : acc * _binScale;
            }
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static float Row(float* r, int xm, int x0, int xp, int xpp, float a, float b, float c, float d) =>
            a * r[xm] + b * r[x0] + c * r[xp] + d * r[xpp];

        /// <summary>Keys cubic convolution weights, a = −0.5 (Catmull-Rom), for offsets −1, 0, 1, 2.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static void KeysWeights(float t, out float wm, out float w0, out float wp, out float wpp)
        {
            float t2 = t * t, t3 = t2 * t;
            wm = -0.5f * t3 + t2 - 0.5f * t;
            w0 = 1.5f * t3 - 2.5f * t2 + 1.0f;
            wp = -1.5f * t3 + 2.0f * t2 + 0.5f * t;
            wpp = 0.5f * t3 - 0.5f * t2;
        }
    }
}
