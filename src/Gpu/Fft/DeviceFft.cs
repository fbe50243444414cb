using System.Runtime.InteropServices;
using ILGPU;
using ILGPU.Runtime;
using ILGPU.Runtime.Cuda;
using Tomalign.Core.Backend;

namespace Tomalign.Gpu.Fft;

/// <summary>
/// A batched 2-D real ↔ complex FFT on device buffers, with the layout and conventions of
/// <see cref="IFft2D"/> (half spectrum of (nx/2+1)×ny complex per image as float pairs,
/// unnormalised both ways). Inverse may overwrite its input spectrum (cuFFT's C2R does).
/// </summary>
public interface IDeviceFft2D : IDisposable
{
    string Name { get; }
    void Forward(ArrayView<float> real, ArrayView<float> spectrum, int nx, int ny, int batch);
    void Inverse(ArrayView<float> spectrum, ArrayView<float> real, int nx, int ny, int batch);

    /// <summary>Frees the work buffers (Stockham) or plans with their work areas (cuFFT) of earlier calls; small tables stay.</summary>
    void ReleaseWork();
}

/// <summary>Chooses the device FFT: cuFFT on CUDA accelerators, the ILGPU Stockham kernels elsewhere.</summary>
public static class DeviceFft
{
    public static IDeviceFft2D Create(Accelerator accelerator) => Create(new DeviceMemoryMeter(accelerator));

    /// <summary>The device FFT of <paramref name="meter"/>'s accelerator, its buffers and work areas counted there.</summary>
    public static IDeviceFft2D Create(DeviceMemoryMeter meter) =>
        meter.Accelerator is CudaAccelerator cuda ? new CuFftDeviceFft(cuda, meter) : new StockhamDeviceFft(meter);
}

/// <summary>
/// <see cref="IFft2D"/> on host memory through a device FFT: uploads, transforms, downloads.
/// For tests, verification and benchmarks; stages keep data on the device and call the
/// <see cref="IDeviceFft2D"/> directly.
/// </summary>
public sealed class GpuFft2D : IFft2D, IDisposable
{
    private readonly Accelerator _accelerator;
    private readonly DeviceMemoryMeter _meter;

    /// <param name="meter">counts the device memory; null: a meter of its own, without a limit (and <paramref name="fft"/>'s, when given).</param>
    public GpuFft2D(Accelerator accelerator, IDeviceFft2D? fft = null, DeviceMemoryMeter? meter = null)
    {
        _accelerator = accelerator ?? throw new ArgumentNullException(nameof(accelerator));
        _meter = meter ?? new DeviceMemoryMeter(accelerator);
        Device = fft ?? DeviceFft.Create(_meter);
    }

    /// <summary>
    /// What one call holds on the device: <see cref="DeviceMemoryPlan.HostFft"/>. The device FFT's work buffers (cuFFT:
    /// its plans) are kept for the next call of the same size, as repeated benchmark calls want; the pipeline's
    /// operations free them when they end (<see cref="IDeviceFft2D.ReleaseWork"/>), so they do not outlive a stage.
    /// </summary>
    public long DeviceBytes(int nx, int ny, int batch) => DeviceMemoryPlan.HostFft(nx, ny, batch);

    public IDeviceFft2D Device { get; }

    public string Name => Device.Name;

    public void Forward(ReadOnlySpan<float> real, int nx, int ny, int batch, Span<float> spectrum)
    {
        Fft2DArguments.Validate(real.Length, spectrum.Length, nx, ny, batch);
        using var r = _meter.Allocate1D<float>(real.Length);
        using var s = _meter.Allocate1D<float>(spectrum.Length);
        r.View.CopyFromCPU(ref MemoryMarshal.GetReference(real), real.Length);
        Device.Forward(r.View, s.View, nx, ny, batch);
        _accelerator.Synchronize();
        s.View.CopyToCPU(ref MemoryMarshal.GetReference(spectrum), spectrum.Length);
    }

    public void Inverse(ReadOnlySpan<float> spectrum, int nx, int ny, int batch, Span<float> real)
    {
        Fft2DArguments.Validate(real.Length, spectrum.Length, nx, ny, batch);
        using var r = _meter.Allocate1D<float>(real.Length);
        using var s = _meter.Allocate1D<float>(spectrum.Length);
        s.View.CopyFromCPU(ref MemoryMarshal.GetReference(spectrum), spectrum.Length);
        Device.Inverse(s.View, r.View, nx, ny, batch);
        _accelerator.Synchronize();
        r.View.CopyToCPU(ref MemoryMarshal.GetReference(real), real.Length);
    }

    public void Dispose() => Device.Dispose();
}
