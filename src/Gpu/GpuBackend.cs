using ILGPU;
using ILGPU.Runtime;
using ILGPU.Runtime.CPU;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Tomalign.Core.Backend;
using Tomalign.Gpu.Fft;

namespace Tomalign.Gpu;

/// <summary>
/// An ILGPU backend: owns one Context and one Accelerator (CUDA, OpenCL, or ILGPU's CPU
/// accelerator for tests). Its warper and pair correlator fall back to the CPU backend that
/// <c>cpuFallback</c> creates when the device runs out of memory. The FFT and the correlator
/// share one device FFT (cuFFT on CUDA, the Stockham kernels elsewhere) and are built on first
/// use, so commands that only warp do not compile their kernels.
/// </summary>
public sealed class GpuBackend : IComputeBackend
{
    private readonly Context _context;
    private readonly Lazy<IComputeBackend>? _fallback;
    private readonly Lazy<GpuBundleNormalEquations> _bundle;
    private readonly Lazy<GpuBackprojector> _backprojector;
    private readonly Lazy<GpuTemplateCorrelator> _templateCorrelator;
    private readonly Lazy<IBackprojector> _backprojectorWithFallback;
    private readonly Lazy<ITemplateCorrelator> _templateCorrelatorWithFallback;
    private readonly Lazy<IDeviceFft2D> _deviceFft;
    private readonly Lazy<GpuFft2D> _fft;
    private readonly Lazy<GpuPairCorrelator> _devicePairCorrelator;
    private readonly Lazy<IPairCorrelator> _pairCorrelator;
    private readonly Lazy<GpuLocalBackprojector> _localBackprojector;

    /// <param name="context">taken over: disposed with the backend.</param>
    /// <param name="accelerator">taken over: disposed with the backend.</param>
    /// <param name="cpuFallback">creates the managed backend used when the device runs out of memory; null: no fallback.</param>
    /// <param name="memoryLimitBytes">the most device memory the backend's operations assume they have (--gpu-memory); null: all of it.</param>
    public GpuBackend(Context context, Accelerator accelerator, Func<IComputeBackend>? cpuFallback = null, ILogger? logger = null,
        long? memoryLimitBytes = null)
    {
        _context = context ?? throw new ArgumentNullException(nameof(context));
        Accelerator = accelerator ?? throw new ArgumentNullException(nameof(accelerator));
        if (memoryLimitBytes is { } limit && limit < 1) throw new ArgumentOutOfRangeException(nameof(memoryLimitBytes), "the memory limit must be positive");
        MemoryBytes = Math.Min(memoryLimitBytes ?? accelerator.MemorySize, accelerator.MemorySize);
        long? budget = MemoryBytes < accelerator.MemorySize ? MemoryBytes : null;
        // One meter for every component: under --gpu-memory it also refuses any allocation past the limit.
        var meter = Meter = new DeviceMemoryMeter(accelerator, memoryLimitBytes is null ? null : MemoryBytes);
        DeviceWarper = new GpuStackWarper(accelerator, meter) { MemoryBudgetOverride = budget };
        _deviceFft = new Lazy<IDeviceFft2D>(() => DeviceFft.Create(meter));
        _bundle = new Lazy<GpuBundleNormalEquations>(() => new GpuBundleNormalEquations(Accelerator, meter));
        _backprojector = new Lazy<GpuBackprojector>(() => new GpuBackprojector(Accelerator, meter, _deviceFft.Value) { MemoryBudgetOverride = budget });
        _localBackprojector = new Lazy<GpuLocalBackprojector>(() => new GpuLocalBackprojector(Accelerator, meter, _backprojector.Value));
        _templateCorrelator = new Lazy<GpuTemplateCorrelator>(() => new GpuTemplateCorrelator(Accelerator, meter) { MemoryBudgetOverride = budget });
        _fft = new Lazy<GpuFft2D>(() => new GpuFft2D(accelerator, _deviceFft.Value, meter));
        _devicePairCorrelator = new Lazy<GpuPairCorrelator>(() => new GpuPairCorrelator(accelerator, _deviceFft.Value, meter) { MemoryBudgetOverride = budget });
        if (cpuFallback is null)
        {
            _backprojectorWithFallback = new Lazy<IBackprojector>(() => _backprojector.Value);
            _templateCorrelatorWithFallback = new Lazy<ITemplateCorrelator>(() => _templateCorrelator.Value);
            Warper = DeviceWarper;
            _pairCorrelator = new Lazy<IPairCorrelator>(() => _devicePairCorrelator.Value);
        }
        else
        {
            var fallback = _fallback = new Lazy<IComputeBackend>(cpuFallback);
            var log = logger ?? NullLogger.Instance;
            Warper = new FallbackStackWarper(DeviceWarper, () => fallback.Value.Warper, log, Name);
            _backprojectorWithFallback = new Lazy<IBackprojector>(() =>
                new FallbackBackprojector(_backprojector.Value, () => fallback.Value.Backprojector, log, Name));
            _templateCorrelatorWithFallback = new Lazy<ITemplateCorrelator>(() =>
                new FallbackTemplateCorrelator(_templateCorrelator.Value, () => fallback.Value.TemplateCorrelator, log, Name));
            _pairCorrelator = new Lazy<IPairCorrelator>(() =>
                new FallbackPairCorrelator(_devicePairCorrelator.Value, () => fallback.Value.PairCorrelator, log, Name));
        }
    }

    /// <summary>Creates ILGPU's CPU accelerator (an emulator: for tests and verification, ~1 µs per thread).</summary>
    public static GpuBackend CreateIlgpuCpu(Func<IComputeBackend>? cpuFallback = null, ILogger? logger = null, long? memoryLimitBytes = null)
    {
        var context = CreateContext(b => b.CPU());
        try { return new GpuBackend(context, context.CreateCPUAccelerator(0), cpuFallback, logger, memoryLimitBytes); }
        catch { context.Dispose(); throw; }
    }

    /// <summary>A context with algorithms enabled and default (IEEE) math: no fast math, for accuracy.</summary>
    internal static Context CreateContext(Func<Context.Builder, Context.Builder> devices) =>
        Context.Create(b => devices(b).Math(MathMode.Default).EnableAlgorithms());

    public Accelerator Accelerator { get; }

    /// <summary>The device memory this backend plans with: the accelerator's, or less under --gpu-memory.</summary>
    public long MemoryBytes { get; }

    public long? WorkingMemoryBytes => (long)(MemoryBytes * DeviceChunking.UsableFraction);

    /// <summary>Counts every device allocation of this backend's components (current and peak bytes).</summary>
    public DeviceMemoryMeter Meter { get; }

    public IDeviceMemoryMeter DeviceMemory => Meter;

    /// <summary>The most device memory this backend's buffers, work areas and tables held at once.</summary>
    public long PeakDeviceBytes => Meter.PeakBytes;

    /// <summary>The device warper without the CPU fallback.</summary>
    public GpuStackWarper DeviceWarper { get; }

    public string Name => Accelerator.AcceleratorType switch
    {
        AcceleratorType.Cuda => "cuda",
        AcceleratorType.OpenCL => "opencl",
        _ => "ilgpu-cpu",
    };

    public string Description => Describe(Accelerator.AcceleratorType, Accelerator.Name, Accelerator.MemorySize, MemoryBytes,
        Accelerator.NumMultiprocessors, Accelerator.MaxNumThreadsPerMultiprocessor);

    /// <summary>
    /// The backend's one-line description. ILGPU's CPU accelerator has no memory of its own (it reports long.MaxValue
    /// bytes, "8589934592 GiB"): it is described by the host's memory available to the process, and its emulated
    /// multiprocessors as threads of the host.
    /// </summary>
    internal static string Describe(AcceleratorType type, string name, long memorySize, long limitBytes, int multiprocessors, int threadsPerMultiprocessor)
    {
        const double GiB = 1024.0 * 1024 * 1024;
        if (type == AcceleratorType.CPU)
            return $"ilgpu-cpu: {name} (emulated on the host: {multiprocessors} × {threadsPerMultiprocessor} threads, " +
                   $"host memory {GC.GetGCMemoryInfo().TotalAvailableMemoryBytes / GiB:F1} GiB" +
                   (limitBytes < memorySize ? $", limited to {limitBytes / GiB:F2} GiB)" : ")");
        return $"{(type == AcceleratorType.Cuda ? "cuda" : "opencl")}: {name}, {memorySize / GiB:F1} GiB" +
               (limitBytes < memorySize ? $" (limited to {limitBytes / GiB:F2} GiB)" : "") + ", " +
               $"{multiprocessors} multiprocessors × {threadsPerMultiprocessor} threads";
    }

    /// <summary>True on real GPUs; false on ILGPU's CPU accelerator, which runs the same kernels by emulation.</summary>
    public bool IsGpu => Accelerator.AcceleratorType != AcceleratorType.CPU;

    public IStackWarper Warper { get; }

    /// <summary>The bundle-adjustment normal equations on this device (kernels compiled on first use).</summary>
    public IBundleNormalEquations BundleNormalEquations => _bundle.Value;

    /// <summary>Backprojection and forward projection on this device (kernels compiled on first use).</summary>
    public IBackprojector Backprojector => _backprojectorWithFallback.Value;

    /// <summary>Backprojection with local alignments on this device (kernel compiled on first use; no CPU fallback).</summary>
    public ILocalBackprojector? LocalBackprojector => _localBackprojector.Value;

    /// <summary>Batched template correlation on this device (kernel compiled on first use).</summary>
    public ITemplateCorrelator TemplateCorrelator => _templateCorrelatorWithFallback.Value;
    /// <summary>The device FFT on host buffers (uploads, transforms, downloads).</summary>
    public IFft2D Fft => _fft.Value;

    /// <summary>The pair correlator, with the CPU fallback when one was given.</summary>
    public IPairCorrelator PairCorrelator => _pairCorrelator.Value;

    /// <summary>The device pair correlator without the CPU fallback.</summary>
    public GpuPairCorrelator DevicePairCorrelator => _devicePairCorrelator.Value;

    public void Dispose()
    {
        if (_fallback is { IsValueCreated: true }) _fallback.Value.Dispose();
        if (_bundle.IsValueCreated) _bundle.Value.Dispose();
        // GpuFft2D and GpuPairCorrelator own nothing but the shared device FFT (plans, twiddles, work buffers).
        if (_deviceFft.IsValueCreated) _deviceFft.Value.Dispose();
        Accelerator.Dispose();
        _context.Dispose();
    }
}
