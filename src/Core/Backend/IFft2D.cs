namespace Tomalign.Core.Backend;

/// <summary>
/// Batched 2-D real ↔ complex FFT, FFTW/cuFFT layout and conventions:
/// <list type="bullet">
/// <item>Real data: <c>batch</c> images of nx×ny floats, x fastest.</item>
/// <item>Half spectrum: <c>batch</c> × ny rows × (nx/2+1) complex values, each stored as
/// (re, im) float pairs, so a spectrum holds batch·ny·(nx/2+1)·2 floats. Element (kx, ky) is
/// Σ f(x, y)·exp(−2πi(kx·x/nx + ky·y/ny)).</item>
/// <item>Both directions are unnormalised: Inverse(Forward(f)) = nx·ny·f. The inverse assumes a
/// Hermitian-consistent spectrum (what Forward makes, or products and real filters of such).</item>
/// <item>nx and ny must be products of 2, 3 and 5 (<see cref="Fft.FftSize"/>); every output element is written.</item>
/// </list>
/// </summary>
public interface IFft2D
{
    /// <summary>Short name for logs and reports ("managed", "mathnet", "ilgpu-stockham", "cufft").</summary>
    string Name { get; }

    void Forward(ReadOnlySpan<float> real, int nx, int ny, int batch, Span<float> spectrum);

    void Inverse(ReadOnlySpan<float> spectrum, int nx, int ny, int batch, Span<float> real);
}

/// <summary>Argument checks shared by every <see cref="IFft2D"/> implementation.</summary>
public static class Fft2DArguments
{
    public static int HalfWidth(int nx) => nx / 2 + 1;

    /// <summary>Floats in the half spectrum of <paramref name="batch"/> images.</summary>
    public static long SpectrumLength(int nx, int ny, int batch) => 2L * HalfWidth(nx) * ny * batch;

    public static void Validate(int realLength, int spectrumLength, int nx, int ny, int batch)
    {
        if (nx < 1 || ny < 1 || batch < 1) throw new ArgumentOutOfRangeException(nameof(nx), $"bad FFT size {nx}×{ny}×{batch}");
        if (!Fft.FftSize.IsGood(nx) || !Fft.FftSize.IsGood(ny))
            throw new ArgumentException($"FFT size {nx}×{ny} has a prime factor other than 2, 3, 5; pad to {Fft.FftSize.NextGood(nx)}×{Fft.FftSize.NextGood(ny)}");
        if (realLength != (long)nx * ny * batch) throw new ArgumentException($"real buffer has {realLength} floats, expected {nx}×{ny}×{batch}");
        if (spectrumLength != SpectrumLength(nx, ny, batch))
            throw new ArgumentException($"spectrum buffer has {spectrumLength} floats, expected {SpectrumLength(nx, ny, batch)}");
    }
}
