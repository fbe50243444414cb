using ILGPU;
using ILGPU.Runtime;
using ILGPU.Runtime.Cuda;
using ILGPU.Util;
using Tomalign.Core.Backend;

namespace Tomalign.Gpu.Fft;

/// <summary>
/// The 2-D FFT through NVIDIA cuFFT (ILGPU.Algorithms' CuFFT binding): batched R2C / C2R plans,
/// cached per (nx, ny, batch, direction) and bound to the accelerator's default stream. cuFFT
/// uses the same layout and (unnormalised) conventions as <see cref="IFft2D"/>.
/// </summary>
public sealed class CuFftDeviceFft : IDeviceFft2D
{
    private readonly CudaAccelerator _accelerator;
    private readonly CuFFT _cufft = new();
    private readonly DeviceMemoryMeter _meter;
    private readonly Dictionary<(int Nx, int Ny, int Batch, CuFFTType Type), (CuFFTPlan Plan, IDisposable Work)> _plans = new();

    /// <param name="meter">counts each plan's work area (cufftGetSize) while the plan lives.</param>
    public CuFftDeviceFft(CudaAccelerator accelerator, DeviceMemoryMeter? meter = null)
    {
        _accelerator = accelerator ?? throw new ArgumentNullException(nameof(accelerator));
        _meter = meter ?? new DeviceMemoryMeter(accelerator);
    }

    public string Name => "cufft";

    public void Forward(ArrayView<float> real, ArrayView<float> spectrum, int nx, int ny, int batch)
    {
        Fft2DArguments.Validate(checked((int)real.Length), checked((int)spectrum.Length), nx, ny, batch);
        Plan(nx, ny, batch, CuFFTType.CUFFT_R2C).ExecR2C(real, spectrum.Cast<Float2>());
    }

    public void Inverse(ArrayView<float> spectrum, ArrayView<float> real, int nx, int ny, int batch)
    {
        Fft2DArguments.Validate(checked((int)real.Length), checked((int)spectrum.Length), nx, ny, batch);
        Plan(nx, ny, batch, CuFFTType.CUFFT_C2R).ExecC2R(spectrum.Cast<Float2>(), real);
    }

    private CuFFTPlan Plan(int nx, int ny, int batch, CuFFTType type)
    {
        var key = (nx, ny, batch, type);
        if (_plans.TryGetValue(key, out var cached)) return cached.Plan;
        _accelerator.Bind();
        int w = nx / 2 + 1;
        int[] n = { ny, nx }, realEmbed = { ny, nx }, complexEmbed = { ny, w };
        bool r2c = type == CuFFTType.CUFFT_R2C;
        CuFFTException.ThrowIfFailed(_cufft.PlanMany(out var plan, 2, n,
            r2c ? realEmbed : complexEmbed, 1, r2c ? nx * ny : w * ny,
            r2c ? complexEmbed : realEmbed, 1, r2c ? w * ny : nx * ny,
            type, batch));
        if (plan is null) throw new InvalidOperationException($"cuFFT returned no plan for {nx}×{ny}×{batch} {type}");
        IDisposable work;
        try
        {
            var size = new UIntPtr[1];
            plan.GetSize(size);
            work = _meter.Reserve((long)size[0].ToUInt64(), $"a cuFFT work area for {nx}×{ny}×{batch}");
        }
        catch { plan.Dispose(); throw; }
        plan.SetStream((CudaStream)_accelerator.DefaultStream);
        _plans[key] = (plan, work);
        return plan;
    }

    public void ReleaseWork()
    {
        foreach (var (plan, work) in _plans.Values) { plan.Dispose(); work.Dispose(); }
        _plans.Clear();
    }

    public void Dispose() => ReleaseWork();
}
