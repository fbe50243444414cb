using Microsoft.Extensions.Logging.Abstractions;
using Tomalign.Core.Backend;
using Tomalign.Cpu;
using Tomalign.Gpu;
using Xunit;

namespace Tomalign.Tests.Reconstruction;

/// <summary>A device that runs out of memory hands the work to the CPU path; other failures propagate.</summary>
public sealed class FallbackTests
{
    private sealed class Exhausted(Exception e) : IBackprojector, ITemplateCorrelator
    {
        public void Backproject(ReadOnlySpan<float> p, ReadOnlySpan<float> c, ReadOnlySpan<float> s, ReadOnlySpan<float> w, SlabGeometry g, Span<float> slab) => throw e;
        public void Project(ReadOnlySpan<float> slab, ReadOnlySpan<float> c, ReadOnlySpan<float> s, SlabGeometry g, Span<float> p) => throw e;
        public void FilterBackproject(ReadOnlySpan<float> p, ReadOnlySpan<float> f, int pad, ReadOnlySpan<float> c, ReadOnlySpan<float> s, ReadOnlySpan<float> w,
            SlabGeometry g, Span<float> slab) => throw e;
        public void Sirt(ReadOnlySpan<float> p, ReadOnlySpan<float> c, ReadOnlySpan<float> s, SlabGeometry g, SirtSettings settings, Span<float> slab,
            Action<int>? iterationDone = null, CancellationToken cancel = default) => throw e;
        public void Correlate(ReadOnlySpan<float> v, int nx, int ny, int nz, ReadOnlySpan<float> t, int size, Span<float> o) => throw e;
    }

    [Fact]
    public void OutOfMemoryFallsBackAndGivesTheCpuResult()
    {
        var g = new SlabGeometry(8, 2, 3, 4, 0);
        var proj = Enumerable.Range(0, (int)g.ProjectionLength).Select(i => (float)Math.Sin(i)).ToArray();
        float[] cos = [1, 0.9f, 0.8f], sin = [0, 0.43f, 0.6f], w = [1, 1, 1];
        var expected = new float[g.SlabLength];
        new CpuBackprojector().Backproject(proj, cos, sin, w, g, expected);
        var bp = new FallbackBackprojector(new Exhausted(new OutOfMemoryException()), () => new CpuBackprojector(), NullLogger.Instance);
        var actual = new float[g.SlabLength];
        bp.Backproject(proj, cos, sin, w, g, actual);
        Assert.Equal(expected, actual);
        Assert.Equal(1, bp.Fallbacks);
        float[] filter = [0.1f, 0.3f, 0.2f, 0.05f, 0.01f, 0f, 0f, 0f, 0f];   // pad 16
        new CpuBackprojector().FilterBackproject(proj, filter, 16, cos, sin, w, g, expected);
        bp.FilterBackproject(proj, filter, 16, cos, sin, w, g, actual);
        Assert.Equal(expected, actual);
        Assert.Equal(2, bp.Fallbacks);
        var sirtSettings = new SirtSettings(3, 1.2f, Positivity: true);
        new CpuBackprojector().Sirt(proj, cos, sin, g, sirtSettings, expected);
        var iterations = new List<int>();
        bp.Sirt(proj, cos, sin, g, sirtSettings, actual, iterations.Add);
        Assert.Equal(expected, actual);
        Assert.Equal([0, 1, 2], iterations);
        Assert.Equal(3, bp.Fallbacks);

        var tc = new FallbackTemplateCorrelator(new Exhausted(new OutOfMemoryException()), () => new CpuTemplateCorrelator(), NullLogger.Instance);
        var o = new float[8 * 8];
        tc.Correlate(Enumerable.Repeat(1f, 64).ToArray(), 8, 8, 1, [1f], 1, o);
        Assert.All(o, v => Assert.Equal(1f, v));
        Assert.Equal(1, tc.Fallbacks);
    }

    [Fact]
    public void OtherFailuresPropagate()
    {
        var bp = new FallbackBackprojector(new Exhausted(new InvalidOperationException("bug")), () => new CpuBackprojector(), NullLogger.Instance);
        var g = new SlabGeometry(4, 1, 1, 2, 0);
        Assert.Throws<InvalidOperationException>(() => bp.Project(new float[g.SlabLength], [1f], [0f], g, new float[g.ProjectionLength]));
    }
}
