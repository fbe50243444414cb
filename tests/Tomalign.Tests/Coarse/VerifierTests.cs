using Tomalign.Core.Backend;
using Tomalign.Core.Backend.Verification;
using Tomalign.Cpu;
using Tomalign.Cpu.Fft;
using Xunit;

namespace Tomalign.Tests.Coarse;

/// <summary>`verify`'s FFT and correlation checks pass on the managed twin and fail on a backend that is off.</summary>
[Trait("Category", "Correctness")]
public sealed class VerifierTests
{
    /// <summary>The managed backend with a wrong FFT or a correlator whose peaks are 0.05 px off.</summary>
    private sealed class SkewedBackend : IComputeBackend
    {
        private readonly CpuBackend _inner = new();
        public SkewedBackend(bool badFft, bool badPeaks, bool badStrengths = false)
        {
            Fft = badFft ? new ScaledFft(new ManagedFft2D()) : _inner.Fft;
            PairCorrelator = badPeaks ? new OffsetCorrelator(_inner.PairCorrelator, 0.05, 0)
                : badStrengths ? new OffsetCorrelator(_inner.PairCorrelator, 0, 0.01) : _inner.PairCorrelator;
        }
        public string Name => "skewed";
        public string Description => "test backend";
        public bool IsGpu => false;
        public IStackWarper Warper => _inner.Warper;
        public IBundleNormalEquations BundleNormalEquations => _inner.BundleNormalEquations;
        public IBackprojector Backprojector => _inner.Backprojector;
        public ILocalBackprojector? LocalBackprojector => _inner.LocalBackprojector;
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

    private sealed class OffsetCorrelator(IPairCorrelator inner, double dy, double strength) : IPairCorrelator
    {
        public CorrelationPeak[] Correlate(ReadOnlySpan<float> views, int nx, int ny, int nz, ReadOnlySpan<ViewStatistics> statistics,
            ReadOnlySpan<CorrelationPair> pairs, CorrelationSettings settings) =>
            inner.Correlate(views, nx, ny, nz, statistics, pairs, settings).Select(p => p with { Dy = p.Dy + dy, Strength = p.Strength * (1 - strength) }).ToArray();
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

    /// <summary>Peaks in the right place whose strengths are 1 % low: the position row passes, the strength row fails.</summary>
    [Fact]
    public void StrengthsOffByOnePerCentFail()
    {
        using var cpu = new CpuBackend();
        using var bad = new SkewedBackend(badFft: false, badPeaks: false, badStrengths: true);
        var rows = KernelVerifier.VerifyCorrelations(bad, cpu, 48, new Random(Random.Shared.Next()));
        Assert.Equal(2, rows.Length);
        Assert.True(rows[0].Passed, $"{rows[0].Case}: {rows[0].MaxRelativeError}");
        Assert.Contains("strength", rows[1].Case);
        Assert.False(rows[1].Passed, $"{rows[1].Case} passed with {rows[1].MaxRelativeError}");
        Assert.True(rows[1].MaxRelativeError > KernelVerifier.PeakStrengthTolerance);
    }
}
