namespace Tomalign.Core.Backend;

/// <summary>
/// What a GPU backend's device allocations add up to: the bytes held now and the most held at once
/// (over the backend's life, and since the last <see cref="ResetWindow"/>: a stage's own peak).
/// </summary>
public interface IDeviceMemoryMeter
{
    /// <summary>Device bytes held now by the backend's buffers, plans and work areas.</summary>
    long CurrentBytes { get; }

    /// <summary>The most device bytes held at once since the backend was created.</summary>
    long PeakBytes { get; }

    /// <summary>The most device bytes held at once since the last <see cref="ResetWindow"/>.</summary>
    long WindowPeakBytes { get; }

    /// <summary>The ceiling an allocation may not cross (--gpu-memory, or the device's size).</summary>
    long? LimitBytes { get; }

    /// <summary>Starts a new window: <see cref="WindowPeakBytes"/> becomes <see cref="CurrentBytes"/>.</summary>
    void ResetWindow();
}
