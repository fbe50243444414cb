using Tomalign.Core.Backend;
using Tomalign.Core.Backend.Verification;
using Tomalign.Cpu;
using Tomalign.Cpu.Fft;
using Xunit;

namespace Tomalign.Tests.Coarse;

/// <summary>`verify`'s FFT and correlation checks pass on the managed twin and fail on a backend that is off.</summary>
public sealed class VerifierTests
{
    /// <summary>The managed backend with a wrong FFT or a correlator whose peaks are 0.05 px off.</summary>
    private sealed class SkewedBackend : IComputeBackend
    {
        private readonly CpuBackend _inner = new();
        public SkewedBackend(bool badFft, bool badPeaks)
        {
            Fft = badFft ? new ScaledFft(new ManagedFft2D()) : _inner.Fft;
            PairCorrelator = badPeaks ? new OffsetCorrelator(_inner.PairCorrelator) : _inner.PairCorrelator;
        }
        public string Name => "skewed";
        public string Description => "test backend";
        public bool IsGpu => false;
        public IStackWarper Warper => _inner.Warper;
        public IBundleNormalEquations BundleNormalEquations => _inner.BundleNormalEquations;
        public IBackprojector Backprojector => _inner.Backprojector;
        public ITemplateCorrelator TemplateCorrelator => _inner.TemplateCorrelator;
        public IFft2D Fft { get; }
        public IPairCorrelator PairCorrelator { get; }
        public void Dispose() => _inner.Dispose();
    }

    private sealed class ScaledFft(IFft2D inner) : IFft2D
    {
        public string Name => "scaled";
        public void Forward(ReadOnlySpan<float> real, int nx, int ny, int batch, Span<float> spectrum)
        {
            inner.Forward(real, nx, ny, batch, spectrum);
            spectrum[3] *= 1.001f;
        }
        public void Inverse(ReadOnlySpan<float> spectrum, int nx, int ny, int batch, Span<float> real)
        {
            inner.Inverse(spectrum, nx, ny, batch, real);
            real[5] *= 1.001f;
        }
    }

    private sealed class OffsetCorrelator(IPairCorrelator inner) : IPairCorrelator
    {
        public CorrelationPeak[] Correlate(ReadOnlySpan<float> views, int nx, int ny, int nz, ReadOnlySpan<ViewStatistics> statistics,
            ReadOnlySpan<CorrelationPair> pairs, CorrelationSettings settings) =>
            inner.Correlate(views, nx, ny, nz, statistics, pairs, settings).Select(p => p with { Dy = p.Dy + 0.05 }).ToArray();
    }

    [Fact]
    public void ManagedTwinPassesEveryCheck()
    {
        using var cpu = new CpuBackend();
        using var same = new SkewedBackend(false, false);
        var rows = KernelVerifier.VerifyAll(same, cpu, 32, seed: 5);
        Assert.Contains(rows, r => r.Kernel.StartsWith("fft"));
        Assert.Contains(rows, r => r.Kernel == "pair correlation");
        Assert.All(rows, r => Assert.True(r.Passed, $"{r.Kernel} {r.Case}: {r.MaxRelativeError}"));
    }

    [Fact]
    public void WrongFftFails()
    {
        using var cpu = new CpuBackend();
        using var bad = new SkewedBackend(badFft: true, badPeaks: false);
        var fft = KernelVerifier.VerifyFft(bad, cpu, 32, 25, 3, new Random(1)).ToArray();
        Assert.Equal(2, fft.Length);
        Assert.All(fft, r => Assert.False(r.Passed, $"{r.Case} passed with error {r.MaxRelativeError}"));
    }

    [Fact]
    public void PeaksOffByFiveHundredthsOfAPixelFail()
    {
        using var cpu = new CpuBackend();
        using var bad = new SkewedBackend(badFft: false, badPeaks: true);
        var r = KernelVerifier.VerifyCorrelation(bad, cpu, 48, new Random(2));
        Assert.False(r.Passed);
        Assert.Equal(0.05, r.MaxRelativeError, 6);
    }
}
