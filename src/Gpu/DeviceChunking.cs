namespace Tomalign.Gpu;

/// <summary>
/// The one place that decides how much of a stack goes to the device at once (ASTRA's
/// CompositeGeometryManager habit): whole views, as many as fit in a share of device memory.
/// </summary>
public static class DeviceChunking
{
    /// <summary>Share of the accelerator's memory a single operation may take (the rest: driver, FFT plans, other buffers).</summary>
    public const double UsableFraction = 0.5;

    /// <summary>Views per chunk, at least 1 and at most <paramref name="views"/>.</summary>
    /// <param name="deviceBytes">the accelerator's memory size.</param>
    /// <param name="bytesPerView">device bytes one view needs (inputs and outputs together).</param>
    /// <param name="fixedBytes">bytes needed once, whatever the chunk size.</param>
    /// <param name="maxElementsPerBuffer">largest buffer, in elements, a launch may index (int range for Index3D-sized chunks).</param>
    /// <param name="elementsPerView">elements of the largest per-view buffer.</param>
    public static int ViewsPerChunk(long deviceBytes, long bytesPerView, int views, long fixedBytes = 0,
        long elementsPerView = 0, long maxElementsPerBuffer = long.MaxValue)
    {
        if (views < 1) throw new ArgumentOutOfRangeException(nameof(views));
        if (bytesPerView < 1) throw new ArgumentOutOfRangeException(nameof(bytesPerView));
        long budget = (long)(deviceBytes * UsableFraction) - fixedBytes;
        long fit = Math.Max(1, budget / bytesPerView);
        if (elementsPerView > 0) fit = Math.Min(fit, Math.Max(1, maxElementsPerBuffer / elementsPerView));
        return (int)Math.Min(fit, views);
    }

    /// <summary>The chunks [start, start+count) covering <paramref name="views"/> views.</summary>
    public static IEnumerable<(int Start, int Count)> Chunks(int views, int viewsPerChunk)
    {
        for (int start = 0; start < views; start += viewsPerChunk)
            yield return (start, Math.Min(viewsPerChunk, views - start));
    }
}
