using ILGPU;
using ILGPU.Runtime;
using ILGPU.Runtime.CPU;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Tomalign.Core.Backend;

namespace Tomalign.Gpu;

/// <summary>
/// An ILGPU backend: owns one Context and one Accelerator (CUDA, OpenCL, or ILGPU's CPU
/// accelerator for tests). Its warper falls back to <paramref name="cpuFallback"/> when the
/// device runs out of memory.
/// </summary>
public sealed class GpuBackend : IComputeBackend
{
    private readonly Context _context;
    private readonly Lazy<IComputeBackend>? _fallback;
    private readonly Lazy<GpuBundleNormalEquations> _bundle;

    /// <param name="context">taken over: disposed with the backend.</param>
    /// <param name="accelerator">taken over: disposed with the backend.</param>
    /// <param name="cpuFallback">creates the managed backend used when the device runs out of memory; null: no fallback.</param>
    public GpuBackend(Context context, Accelerator accelerator, Func<IComputeBackend>? cpuFallback = null, ILogger? logger = null)
    {
        _context = context ?? throw new ArgumentNullException(nameof(context));
        Accelerator = accelerator ?? throw new ArgumentNullException(nameof(accelerator));
        DeviceWarper = new GpuStackWarper(accelerator);
        _bundle = new Lazy<GpuBundleNormalEquations>(() => new GpuBundleNormalEquations(Accelerator));
        if (cpuFallback is null)
        {
            Warper = DeviceWarper;
        }
        else
        {
            _fallback = new Lazy<IComputeBackend>(cpuFallback);
            Warper = new FallbackStackWarper(DeviceWarper, () => _fallback.Value.Warper, logger ?? NullLogger.Instance, Name);
        }
    }

    /// <summary>Creates ILGPU's CPU accelerator (an emulator: for tests and verification, ~1 µs per thread).</summary>
    public static GpuBackend CreateIlgpuCpu(Func<IComputeBackend>? cpuFallback = null, ILogger? logger = null)
    {
        var context = CreateContext(b => b.CPU());
        try { return new GpuBackend(context, context.CreateCPUAccelerator(0), cpuFallback, logger); }
        catch { context.Dispose(); throw; }
    }

    /// <summary>A context with algorithms enabled and default (IEEE) math: no fast math, for accuracy.</summary>
    internal static Context CreateContext(Func<Context.Builder, Context.Builder> devices) =>
        Context.Create(b => devices(b).Math(MathMode.Default).EnableAlgorithms());

    public Accelerator Accelerator { get; }

    /// <summary>The device warper without the CPU fallback.</summary>
    public GpuStackWarper DeviceWarper { get; }

    public string Name => Accelerator.AcceleratorType switch
    {
        AcceleratorType.Cuda => "cuda",
        AcceleratorType.OpenCL => "opencl",
        _ => "ilgpu-cpu",
    };

    public string Description =>
        $"{Name}: {Accelerator.Name}, {Accelerator.MemorySize / (1024.0 * 1024 * 1024):F1} GiB, " +
        $"{Accelerator.NumMultiprocessors} multiprocessors × {Accelerator.MaxNumThreadsPerMultiprocessor} threads";

    /// <summary>True on real GPUs; false on ILGPU's CPU accelerator, which runs the same kernels by emulation.</summary>
    public bool IsGpu => Accelerator.AcceleratorType != AcceleratorType.CPU;

    public IStackWarper Warper { get; }

    /// <summary>The bundle-adjustment normal equations on this device (kernels compiled on first use).</summary>
    public IBundleNormalEquations BundleNormalEquations => _bundle.Value;

    public void Dispose()
    {
        if (_fallback is { IsValueCreated: true }) _fallback.Value.Dispose();
        if (_bundle.IsValueCreated) _bundle.Value.Dispose();
        Accelerator.Dispose();
        _context.Dispose();
    }
}
