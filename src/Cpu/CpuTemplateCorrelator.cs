using Tomalign.Core.Backend;
using Tomalign.Core.Fft;
using Tomalign.Cpu.Fft;

namespace Tomalign.Cpu;

/// <summary>
/// The managed twin of the template-correlation kernel. Small problems use the kernel's direct sum
/// (same order, in float); large ones the same correlation through the managed FFT: each view is
/// extended by the template's half-size with its edge values (the kernel's clamping), correlated
/// with the template in Fourier space, and cut back, so the two agree to float rounding
/// (about 1e-6 of the peak) while the FFT path costs O(N log N) instead of O(N·size²).
/// </summary>
public sealed class CpuTemplateCorrelator(int maxThreads = 0) : ITemplateCorrelator
{
    private readonly ParallelOptions _parallel = new() { MaxDegreeOfParallelism = maxThreads > 0 ? maxThreads : -1 };
    private readonly ManagedFft2D _fft = new();

    /// <summary>Views at least this large (pixels) with templates of at least 7² go through the FFT.</summary>
    public const int FftThresholdPixels = 128 * 128;

    public void Correlate(ReadOnlySpan<float> views, int nx, int ny, int nz, ReadOnlySpan<float> template, int size, Span<float> output)
    {
        TemplateCorrelationArguments.Validate(views.Length, nx, ny, nz, template.Length, size, output.Length);
        if ((long)nx * ny >= FftThresholdPixels && size >= 7) CorrelateFft(views, nx, ny, nz, template, size, output);
        else CorrelateDirect(views, nx, ny, nz, template, size, output);
    }

    /// <summary>The kernel's sum, term by term.</summary>
    public void CorrelateDirect(ReadOnlySpan<float> views, int nx, int ny, int nz, ReadOnlySpan<float> template, int size, Span<float> output)
    {
        TemplateCorrelationArguments.Validate(views.Length, nx, ny, nz, template.Length, size, output.Length);
        var v = views.ToArray();
        var t = template.ToArray();
        var o = new float[output.Length];
        int h = size / 2;
        Parallel.For(0, nz * ny, _parallel, zy =>
        {
            int z = zy / ny, y = zy % ny;
            long view = (long)z * nx * ny;
            for (int x = 0; x < nx; x++)
            {
                float sum = 0;
                for (int j = 0; j < size; j++)
                {
                    int yy = Math.Clamp(y + j - h, 0, ny - 1);
                    long row = view + (long)yy * nx;
                    for (int i = 0; i < size; i++)
                        sum += t[j * size + i] * v[row + Math.Clamp(x + i - h, 0, nx - 1)];
                }
                o[view + (long)y * nx + x] = sum;
            }
        });
        o.CopyTo(output);
    }

    private void CorrelateFft(ReadOnlySpan<float> views, int nx, int ny, int nz, ReadOnlySpan<float> template, int size, Span<float> output)
    {
        int h = size / 2;
        int px = FftSize.NextGood(nx + 2 * h), py = FftSize.NextGood(ny + 2 * h);
        int half = px / 2 + 1;
        // The template's spectrum, conjugated: correlation c(d) = Σ_k ext(k + d)·t(k).
        var tReal = new float[px * py];
        for (int j = 0; j < size; j++)
            for (int i = 0; i < size; i++) tReal[j * px + i] = template[j * size + i];
        var tSpec = new float[Fft2DArguments.SpectrumLength(px, py, 1)];
        _fft.Forward(tReal, px, py, 1, tSpec);
        float scale = 1f / ((float)px * py);
        int batch = (int)Math.Clamp((256L << 20) / (12L * px * py), 1, nz);
        var real = new float[(long)batch * px * py];
        var spec = new float[Fft2DArguments.SpectrumLength(px, py, batch)];
        for (int z0 = 0; z0 < nz; z0 += batch)
        {
            int n = Math.Min(batch, nz - z0);
            var src = views.Slice(z0 * nx * ny, n * nx * ny).ToArray();
            Parallel.For(0, n * py, _parallel, ky =>
            {
                int k = ky / py, y = ky % py;
                var dst = real.AsSpan((int)(((long)k * py + y) * px), px);
                if (y >= ny + 2 * h) { dst.Clear(); return; }
                int sy = Math.Clamp(y - h, 0, ny - 1);
                var row = src.AsSpan(k * nx * ny + sy * nx, nx);
                for (int x = 0; x < px; x++) dst[x] = x < nx + 2 * h ? row[Math.Clamp(x - h, 0, nx - 1)] : 0f;
            });
            var r = real.AsSpan(0, n * px * py);
            var sp = spec.AsSpan(0, (int)Fft2DArguments.SpectrumLength(px, py, n));
            _fft.Forward(r, px, py, n, sp);
            var specArray = spec;
            Parallel.For(0, n * py, _parallel, ky =>
            {
                int row = ky % py;
                long b = 2L * ky * half, tb = 2L * row * half;
                for (int kx = 0; kx < half; kx++)
                {
                    float ar = specArray[b + 2 * kx], ai = specArray[b + 2 * kx + 1];
                    float br = tSpec[tb + 2 * kx], bi = -tSpec[tb + 2 * kx + 1];
                    specArray[b + 2 * kx] = ar * br - ai * bi;
                    specArray[b + 2 * kx + 1] = ar * bi + ai * br;
                }
            });
            _fft.Inverse(sp, px, py, n, r);
            for (int k = 0; k < n; k++)
                for (int y = 0; y < ny; y++)
                {
                    var from = real.AsSpan((int)(((long)k * py + y) * px), nx);
                    var to = output.Slice((z0 + k) * nx * ny + y * nx, nx);
                    for (int x = 0; x < nx; x++) to[x] = from[x] * scale;
                }
        }
    }
}
