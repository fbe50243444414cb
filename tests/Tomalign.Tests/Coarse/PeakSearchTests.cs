using ILGPU;
using ILGPU.Runtime;
using Tomalign.Core.Backend;
using Tomalign.Core.Coarse;
using Tomalign.Cpu;
using Tomalign.Kernels;
using Tomalign.Tests.Fft;
using Xunit;

namespace Tomalign.Tests.Coarse;

/// <summary>
/// The peak search skips shifts whose 2-D window overlap Ox·Oy is below
/// <see cref="CorrelationSettings.MinimumOverlap"/>, even when each axis alone passes: a small value
/// at such a corner shift, divided by an overlap of ~0.1, would otherwise beat the true peak (it did
/// on 192² simulated series: peaks at (±106, ±106) and 190 px RMS errors). Both the managed search
/// and the ILGPU kernels are checked on the same hand-made map.
/// </summary>
public sealed class PeakSearchTests : IClassFixture<IlgpuCpuFixture>
{
    private const int N = 32, P = 40;
    private readonly IlgpuCpuFixture _fixture;
    public PeakSearchTests(IlgpuCpuFixture fixture) => _fixture = fixture;

    private static CorrelationSettings Settings => new(P, P, 3, BandPassFilter.None);

    /// <summary>A map with the true peak at (2, 1) and a weak value at a corner shift (c, c) where each axis overlap passes but the product does not.</summary>
    private static (float[] Map, float[] Ox, float[] Oy, int Corner) Map()
    {
        var s = Settings;
        float[] ox = s.OverlapTable(N, P), oy = s.OverlapTable(N, P);
        int corner = Enumerable.Range(0, P / 2).Last(i => ox[i] >= CorrelationSettings.MinimumOverlap);
        Assert.True(ox[corner] * oy[corner] < CorrelationSettings.MinimumOverlap, "the corner must fail the 2-D overlap");
        var map = new float[P * P];
        map[1 * P + 2] = 0.5f;
        map[1 * P + 1] = map[1 * P + 3] = map[0 * P + 2] = map[2 * P + 2] = 0.3f;
        map[corner * P + corner] = 0.2f;
        // Without the 2-D test the corner's normalised value would win: the test can fail.
        Assert.True(0.2f / (ox[corner] * oy[corner]) > 0.5f / (ox[2] * oy[1]));
        return (map, ox, oy, corner);
    }

    [Fact]
    public void ManagedSearchIgnoresCornerShiftsWithLittleOverlap()
    {
        var (map, ox, oy, _) = Map();
        var (dx, dy, value) = CpuPairCorrelator.FindPeak(map, P, P, Settings, ox, oy);
        Assert.Equal(0.5, value, 6);
        Assert.True(Math.Abs(dx - 2) < 0.5 && Math.Abs(dy - 1) < 0.5, $"peak at ({dx:F2}, {dy:F2}), expected near (2, 1)");
    }

    [Fact]
    public void KernelSearchIgnoresCornerShiftsWithLittleOverlap()
    {
        var (map, ox, oy, _) = Map();
        var acc = _fixture.Accelerator;
        var rowMax = acc.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<int>, CorrelationShape>(CorrelationKernels.RowMax);
        var pairPeak = acc.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<int>, ArrayView<float>, CorrelationShape>(CorrelationKernels.PairPeak);
        var shape = new CorrelationShape(N, N, P, P, 3, P, 0, (float)CorrelationSettings.MinimumOverlap);
        using var mapBuffer = acc.Allocate1D(map);
        using var oxBuffer = acc.Allocate1D(ox);
        using var oyBuffer = acc.Allocate1D(oy);
        using var rowValue = acc.Allocate1D<float>(P);
        using var rowX = acc.Allocate1D<int>(P);
        using var peaks = acc.Allocate1D<float>(3);
        rowMax(P, mapBuffer.View, oxBuffer.View, oyBuffer.View, rowValue.View, rowX.View, shape);
        pairPeak(1, mapBuffer.View, oxBuffer.View, oyBuffer.View, rowValue.View, rowX.View, peaks.View, shape);
        acc.Synchronize();
        var peak = peaks.GetAsArray1D();
        Assert.Equal(0.5f, peak[2]);
        Assert.True(Math.Abs(peak[0] - 2) < 0.5 && Math.Abs(peak[1] - 1) < 0.5, $"peak at ({peak[0]:F2}, {peak[1]:F2}), expected near (2, 1)");
    }
}
