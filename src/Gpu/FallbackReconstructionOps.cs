using Microsoft.Extensions.Logging;
using Tomalign.Core.Backend;

namespace Tomalign.Gpu;

/// <summary>
/// The device backprojector, redone on the CPU path (with a warning) when the device runs out of
/// memory; outputs are rewritten entirely, so a partial device result is harmless.
/// </summary>
public sealed class FallbackBackprojector(IBackprojector primary, Func<IBackprojector> fallback, ILogger logger, string deviceName = "GPU") : IBackprojector
{
    /// <summary>How many calls fell back to the CPU path.</summary>
    public int Fallbacks { get; private set; }

    public void Backproject(ReadOnlySpan<float> projections, ReadOnlySpan<float> cosines, ReadOnlySpan<float> sines,
        ReadOnlySpan<float> weights, SlabGeometry geometry, Span<float> slab)
    {
        try { primary.Backproject(projections, cosines, sines, weights, geometry, slab); return; }
        catch (Exception ex) when (FallbackStackWarper.IsOutOfMemory(ex)) { Warn("backprojecting", geometry, ex); }
        fallback().Backproject(projections, cosines, sines, weights, geometry, slab);
    }

    public void FilterBackproject(ReadOnlySpan<float> projections, ReadOnlySpan<float> filter, int pad, ReadOnlySpan<float> cosines,
        ReadOnlySpan<float> sines, ReadOnlySpan<float> weights, SlabGeometry geometry, Span<float> slab)
    {
        try { primary.FilterBackproject(projections, filter, pad, cosines, sines, weights, geometry, slab); return; }
        catch (Exception ex) when (FallbackStackWarper.IsOutOfMemory(ex)) { Warn("filtering and backprojecting", geometry, ex); }
        fallback().FilterBackproject(projections, filter, pad, cosines, sines, weights, geometry, slab);
    }

    public void Project(ReadOnlySpan<float> slab, ReadOnlySpan<float> cosines, ReadOnlySpan<float> sines, SlabGeometry geometry, Span<float> projections)
    {
        try { primary.Project(slab, cosines, sines, geometry, projections); return; }
        catch (Exception ex) when (FallbackStackWarper.IsOutOfMemory(ex)) { Warn("projecting", geometry, ex); }
        fallback().Project(slab, cosines, sines, geometry, projections);
    }

    public void Sirt(ReadOnlySpan<float> projections, ReadOnlySpan<float> cosines, ReadOnlySpan<float> sines, SlabGeometry geometry,
        SirtSettings settings, Span<float> slab, Action<int>? iterationDone = null, CancellationToken cancel = default)
    {
        // The device plan is checked before the first iteration, so a fallback restarts no reported progress.
        try { primary.Sirt(projections, cosines, sines, geometry, settings, slab, iterationDone, cancel); return; }
        catch (Exception ex) when (FallbackStackWarper.IsOutOfMemory(ex)) { Warn("running SIRT on", geometry, ex); }
        fallback().Sirt(projections, cosines, sines, geometry, settings, slab, iterationDone, cancel);
    }

    private void Warn(string what, SlabGeometry g, Exception ex)
    {
        Fallbacks++;
        logger.LogWarning("{Device} ran out of memory {What} a slab of {Rows} rows × {Width} × {Thickness} ({Message}); using the CPU path",
            deviceName, what, g.Rows, g.Width, g.Thickness, ex.Message);
    }
}

/// <summary>The device template correlator, redone on the CPU path (with a warning) when the device runs out of memory.</summary>
public sealed class FallbackTemplateCorrelator(ITemplateCorrelator primary, Func<ITemplateCorrelator> fallback, ILogger logger, string deviceName = "GPU") : ITemplateCorrelator
{
    /// <summary>How many calls fell back to the CPU path.</summary>
    public int Fallbacks { get; private set; }

    public void Correlate(ReadOnlySpan<float> views, int nx, int ny, int nz, ReadOnlySpan<float> template, int size, Span<float> output)
    {
        try { primary.Correlate(views, nx, ny, nz, template, size, output); return; }
        catch (Exception ex) when (FallbackStackWarper.IsOutOfMemory(ex))
        {
            Fallbacks++;
            logger.LogWarning("{Device} ran out of memory correlating {Nz} views of {Nx}×{Ny} with a bead template ({Message}); using the CPU path",
                deviceName, nz, nx, ny, ex.Message);
        }
        fallback().Correlate(views, nx, ny, nz, template, size, output);
    }
}
