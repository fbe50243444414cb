using System.Buffers;
using System.Collections.Concurrent;
using Tomalign.Core.Backend;

namespace Tomalign.Cpu.Fft;

/// <summary>
/// Tomalign's managed batched 2-D real ↔ complex FFT (<see cref="IFft2D"/>): rows first, two
/// real rows packed into one complex FFT and split by Hermitian symmetry, then the nx/2+1
/// columns in blocks gathered into contiguous scratch; Parallel.For over row pairs and column
/// blocks of the whole batch. Plans are cached per length. Arithmetic is in double inside each
/// 1-D transform; the stored spectrum is float.
/// </summary>
public sealed class ManagedFft2D : IFft2D
{
    private const int ColumnBlock = 16;
    private static readonly ConcurrentDictionary<int, FftPlan1D> Plans = new();

    public string Name => "managed";

    public static FftPlan1D Plan(int n) => Plans.GetOrAdd(n, static k => new FftPlan1D(k));

    public void Forward(ReadOnlySpan<float> real, int nx, int ny, int batch, Span<float> spectrum)
    {
        Fft2DArguments.Validate(real.Length, spectrum.Length, nx, ny, batch);
        unsafe
        {
            fixed (float* pr = real)
            fixed (float* ps = spectrum)
            {
                var src = (IntPtr)pr; var dst = (IntPtr)ps;
                RowsForward(src, dst, nx, ny, batch);
                Columns(dst, nx, ny, batch, inverse: false);
            }
        }
    }

    public void Inverse(ReadOnlySpan<float> spectrum, int nx, int ny, int batch, Span<float> real)
    {
        Fft2DArguments.Validate(real.Length, spectrum.Length, nx, ny, batch);
        float[] work = ArrayPool<float>.Shared.Rent(spectrum.Length);
        try
        {
            spectrum.CopyTo(work);
            unsafe
            {
                fixed (float* pw = work)
                fixed (float* pr = real)
                {
                    var w = (IntPtr)pw; var dst = (IntPtr)pr;
                    Columns(w, nx, ny, batch, inverse: true);
                    RowsInverse(w, dst, nx, ny, batch);
                }
            }
        }
        finally { ArrayPool<float>.Shared.Return(work); }
    }

    private static unsafe void RowsForward(IntPtr src, IntPtr dst, int nx, int ny, int batch)
    {
        var plan = Plan(nx);
        int w = nx / 2 + 1, pairsPerImage = (ny + 1) / 2;
        Parallel.For(0, batch * pairsPerImage, () => new double[4 * nx], (idx, _, s) =>
        {
            float* real = (float*)src; float* spec = (float*)dst;
            int b = idx / pairsPerImage, y = 2 * (idx % pairsPerImage);
            bool two = y + 1 < ny;
            var zr = s.AsSpan(0, nx); var zi = s.AsSpan(nx, nx);
            float* row0 = real + ((long)b * ny + y) * nx;
            for (int x = 0; x < nx; x++) { zr[x] = row0[x]; zi[x] = two ? row0[nx + x] : 0.0; }
            plan.Forward(zr, zi, s.AsSpan(2 * nx, nx), s.AsSpan(3 * nx, nx));
            float* o0 = spec + 2 * ((long)b * ny + y) * w;
            float* o1 = o0 + 2 * w;
            for (int k = 0; k < w; k++)
            {
                int km = k == 0 ? 0 : nx - k;
                double pr = zr[k], pi = zi[k], mr = zr[km], mi = zi[km];
                o0[2 * k] = (float)(0.5 * (pr + mr)); o0[2 * k + 1] = (float)(0.5 * (pi - mi));
                if (two) { o1[2 * k] = (float)(0.5 * (pi + mi)); o1[2 * k + 1] = (float)(-0.5 * (pr - mr)); }
            }
            return s;
        }, _ => { });
    }

    private static unsafe void RowsInverse(IntPtr src, IntPtr dst, int nx, int ny, int batch)
    {
        var plan = Plan(nx);
        int w = nx / 2 + 1, pairsPerImage = (ny + 1) / 2;
        Parallel.For(0, batch * pairsPerImage, () => new double[4 * nx], (idx, _, s) =>
        {
            float* spec = (float*)src; float* real = (float*)dst;
            int b = idx / pairsPerImage, y = 2 * (idx % pairsPerImage);
            bool two = y + 1 < ny;
            var zr = s.AsSpan(0, nx); var zi = s.AsSpan(nx, nx);
            float* h0 = spec + 2 * ((long)b * ny + y) * w;
            float* h1 = h0 + 2 * w;
            // Z = A + i·B with A, B the Hermitian extensions of rows y, y+1; conj for the inverse.
            for (int k = 0; k < nx; k++)
            {
                double ar, ai, br = 0, bi = 0;
                bool self = k < w; int kk = self ? k : nx - k;
                bool realBin = kk == 0 || 2 * kk == nx;
                ar = h0[2 * kk]; ai = realBin ? 0 : (self ? h0[2 * kk + 1] : -h0[2 * kk + 1]);
                if (two) { br = h1[2 * kk]; bi = realBin ? 0 : (self ? h1[2 * kk + 1] : -h1[2 * kk + 1]); }
                zr[k] = ar - bi; zi[k] = -(ai + br);
            }
            plan.Forward(zr, zi, s.AsSpan(2 * nx, nx), s.AsSpan(3 * nx, nx));
            float* r0 = real + ((long)b * ny + y) * nx;
            for (int x = 0; x < nx; x++)
            {
                r0[x] = (float)zr[x];
                if (two) r0[nx + x] = (float)(-zi[x]);
            }
            return s;
        }, _ => { });
    }

    private static unsafe void Columns(IntPtr data, int nx, int ny, int batch, bool inverse)
    {
        var plan = Plan(ny);
        int w = nx / 2 + 1, blocks = (w + ColumnBlock - 1) / ColumnBlock;
        double sign = inverse ? -1.0 : 1.0;
        // Column c of a block sits at c·ld in the scratch; ld = ny + 8 keeps power-of-two lengths
        // from mapping every column of the block onto the same cache sets.
        int ld = ny + 8;
        Parallel.For(0, batch * blocks, () => new double[2 * ld * ColumnBlock + 2 * ny], (idx, _, s) =>
        {
            float* spec = (float*)data;
            int b = idx / blocks, c0 = (idx % blocks) * ColumnBlock, nc = Math.Min(ColumnBlock, w - c0);
            float* img = spec + 2L * b * ny * w;
            var re = s.AsSpan(0, ld * ColumnBlock); var im = s.AsSpan(ld * ColumnBlock, ld * ColumnBlock);
            for (int y = 0; y < ny; y++)
            {
                float* row = img + 2L * (y * w + c0);
                for (int c = 0; c < nc; c++) { re[c * ld + y] = row[2 * c]; im[c * ld + y] = sign * row[2 * c + 1]; }
            }
            var t0 = s.AsSpan(2 * ld * ColumnBlock, ny); var t1 = s.AsSpan(2 * ld * ColumnBlock + ny, ny);
            for (int c = 0; c < nc; c++)
                plan.Forward(re.Slice(c * ld, ny), im.Slice(c * ld, ny), t0, t1);
            for (int y = 0; y < ny; y++)
            {
                float* row = img + 2L * (y * w + c0);
                for (int c = 0; c < nc; c++) { row[2 * c] = (float)re[c * ld + y]; row[2 * c + 1] = (float)(sign * im[c * ld + y]); }
            }
            return s;
        }, _ => { });
    }
}
