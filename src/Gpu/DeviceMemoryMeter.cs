using ILGPU;
using ILGPU.Runtime;
using Tomalign.Core.Backend;

namespace Tomalign.Gpu;

/// <summary>
/// Every device allocation of the GPU components goes through here: it counts the bytes held now and
/// the peak (thread-safe), and refuses, before allocating, anything that would take the total past the
/// limit (--gpu-memory) with a <see cref="DeviceMemoryLimitException"/>, which the fallback wrappers treat
/// as the device running out of memory (a warning and the CPU path). Bytes are the requested lengths
/// times the element size; work areas allocated by libraries (cuFFT) are counted through <see cref="Reserve"/>.
/// </summary>
public sealed class DeviceMemoryMeter : IDeviceMemoryMeter
{
    private readonly Accelerator _accelerator;
    private long _current, _peak, _windowPeak;

    /// <param name="limitBytes">the ceiling; null: none (the device itself refuses what it cannot hold).</param>
    public DeviceMemoryMeter(Accelerator accelerator, long? limitBytes = null)
    {
        _accelerator = accelerator ?? throw new ArgumentNullException(nameof(accelerator));
        if (limitBytes is < 1) throw new ArgumentOutOfRangeException(nameof(limitBytes), "the memory limit must be positive");
        LimitBytes = limitBytes;
    }

    public Accelerator Accelerator => _accelerator;
    public long? LimitBytes { get; }
    public long CurrentBytes => Interlocked.Read(ref _current);
    public long PeakBytes => Interlocked.Read(ref _peak);
    public long WindowPeakBytes => Interlocked.Read(ref _windowPeak);

    public void ResetWindow() => Interlocked.Exchange(ref _windowPeak, CurrentBytes);

    /// <summary>A metered 1-D buffer of <paramref name="length"/> elements (at least 1).</summary>
    public DeviceBuffer<T> Allocate1D<T>(long length) where T : unmanaged
    {
        if (length < 0) throw new ArgumentOutOfRangeException(nameof(length));
        length = Math.Max(1, length);
        long bytes = checked(length * System.Runtime.CompilerServices.Unsafe.SizeOf<T>());
        Charge(bytes, $"a buffer of {length} × {typeof(T).Name}");
        try { return new DeviceBuffer<T>(this, _accelerator.Allocate1D<T>(length), bytes); }
        catch { Release(bytes); throw; }
    }

    /// <summary>A metered 1-D buffer holding a copy of <paramref name="data"/>.</summary>
    public DeviceBuffer<T> Allocate1D<T>(T[] data) where T : unmanaged
    {
        ArgumentNullException.ThrowIfNull(data);
        var b = Allocate1D<T>(data.LongLength);
        if (data.Length > 0) b.View.SubView(0, data.LongLength).CopyFromCPU(data);
        return b;
    }

    /// <summary>Counts <paramref name="bytes"/> held outside ILGPU's buffers (a cuFFT work area) until the result is disposed.</summary>
    public IDisposable Reserve(long bytes, string what)
    {
        if (bytes < 0) throw new ArgumentOutOfRangeException(nameof(bytes));
        Charge(bytes, what);
        return new Reservation(this, bytes);
    }

    private void Charge(long bytes, string what)
    {
        while (true)
        {
            long now = Interlocked.Read(ref _current), next = now + bytes;
            if (LimitBytes is { } limit && next > limit)
                throw new DeviceMemoryLimitException(
                    $"{what} ({Mib(bytes)}) would take the device to {Mib(next)}, over the {Mib(limit)} limit; " +
                    "raise --gpu-memory (TOMALIGN_GPU_MEMORY), bin more, or use --device cpu");
            if (Interlocked.CompareExchange(ref _current, next, now) != now) continue;
            Max(ref _peak, next);
            Max(ref _windowPeak, next);
            return;
        }
    }

    internal void Release(long bytes) => Interlocked.Add(ref _current, -bytes);

    private static void Max(ref long target, long value)
    {
        long seen;
        while ((seen = Interlocked.Read(ref target)) < value && Interlocked.CompareExchange(ref target, value, seen) != seen) { }
    }

    internal static string Mib(long bytes) => $"{bytes / (1024.0 * 1024):F1} MiB";

    private sealed class Reservation(DeviceMemoryMeter meter, long bytes) : IDisposable
    {
        private int _disposed;
        public void Dispose() { if (Interlocked.Exchange(ref _disposed, 1) == 0) meter.Release(bytes); }
    }
}

/// <summary>A device buffer allocated through a <see cref="DeviceMemoryMeter"/>; disposing it frees the buffer and the count.</summary>
public sealed class DeviceBuffer<T> : IDisposable where T : unmanaged
{
    private readonly DeviceMemoryMeter _meter;
    private int _disposed;

    internal DeviceBuffer(DeviceMemoryMeter meter, MemoryBuffer1D<T, Stride1D.Dense> buffer, long bytes)
    {
        _meter = meter; Buffer = buffer; Bytes = bytes;
    }

    public MemoryBuffer1D<T, Stride1D.Dense> Buffer { get; }
    public ArrayView1D<T, Stride1D.Dense> View => Buffer.View;
    public long Length => Buffer.Length;
    public long Bytes { get; }

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        Buffer.Dispose();
        _meter.Release(Bytes);
    }
}

/// <summary>
/// A device allocation refused because it would cross the memory limit (--gpu-memory) or because one
/// unit of work (a view, a pair, a slab row) does not fit the working share of it. An
/// <see cref="OutOfMemoryException"/>, so the fallback wrappers redo the work on the CPU path, saying so.
/// </summary>
public sealed class DeviceMemoryLimitException(string message) : OutOfMemoryException(message);
