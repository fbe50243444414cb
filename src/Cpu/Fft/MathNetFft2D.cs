using MathNet.Numerics;
using MathNet.Numerics.IntegralTransforms;
using Tomalign.Core.Backend;

namespace Tomalign.Cpu.Fft;

/// <summary>
/// <see cref="IFft2D"/> through MathNet.Numerics' managed 1-D Fourier.Forward/Inverse on
/// Complex32 (its 2-D entry points do not support single precision): full complex row
/// transforms, then column transforms, Parallel.For over rows and columns like the managed
/// FFT. The reference the managed FFT is benchmarked against, and a second independent
/// implementation for the tests.
/// </summary>
public sealed class MathNetFft2D : IFft2D
{
    public string Name => "mathnet";

    public void Forward(ReadOnlySpan<float> real, int nx, int ny, int batch, Span<float> spectrum)
    {
        Fft2DArguments.Validate(real.Length, spectrum.Length, nx, ny, batch);
        int w = nx / 2 + 1;
        var full = new Complex32[nx * ny];
        var rows = new Complex32[ny * w];
        for (int b = 0; b < batch; b++)
        {
            var img = real.Slice(b * nx * ny, nx * ny);
            for (int i = 0; i < full.Length; i++) full[i] = new Complex32(img[i], 0);
            Parallel.For(0, ny, y =>
            {
                var row = new Complex32[nx];
                Array.Copy(full, y * nx, row, 0, nx);
                Fourier.Forward(row, FourierOptions.NoScaling);
                Array.Copy(row, 0, rows, y * w, w);
            });
            Parallel.For(0, w, k =>
            {
                var col = new Complex32[ny];
                for (int y = 0; y < ny; y++) col[y] = rows[y * w + k];
                Fourier.Forward(col, FourierOptions.NoScaling);
                for (int y = 0; y < ny; y++) rows[y * w + k] = col[y];
            });
            var o = spectrum.Slice(2 * b * w * ny, 2 * w * ny);
            for (int i = 0; i < rows.Length; i++) { o[2 * i] = rows[i].Real; o[2 * i + 1] = rows[i].Imaginary; }
        }
    }

    public void Inverse(ReadOnlySpan<float> spectrum, int nx, int ny, int batch, Span<float> real)
    {
        Fft2DArguments.Validate(real.Length, spectrum.Length, nx, ny, batch);
        int w = nx / 2 + 1;
        var half = new Complex32[ny * w];
        var full = new Complex32[nx * ny];
        for (int b = 0; b < batch; b++)
        {
            var h = spectrum.Slice(2 * b * w * ny, 2 * w * ny);
            for (int i = 0; i < half.Length; i++) half[i] = new Complex32(h[2 * i], h[2 * i + 1]);
            Parallel.For(0, w, k =>
            {
                var col = new Complex32[ny];
                for (int y = 0; y < ny; y++) col[y] = half[y * w + k];
                Fourier.Inverse(col, FourierOptions.NoScaling);
                for (int y = 0; y < ny; y++) half[y * w + k] = col[y];
            });
            Parallel.For(0, ny, y =>
            {
                var row = new Complex32[nx];
                for (int k = 0; k < nx; k++)
                {
                    bool self = k < w; int kk = self ? k : nx - k;
                    var c = half[y * w + kk];
                    bool realBin = kk == 0 || 2 * kk == nx;
                    row[k] = realBin ? new Complex32(c.Real, 0) : self ? c : c.Conjugate();
                }
                Fourier.Inverse(row, FourierOptions.NoScaling);
                Array.Copy(row, 0, full, y * nx, nx);
            });
            var o = real.Slice(b * nx * ny, nx * ny);
            for (int i = 0; i < o.Length; i++) o[i] = full[i].Real;
        }
    }
}
