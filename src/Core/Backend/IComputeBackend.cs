namespace Tomalign.Core.Backend;

/// <summary>Which backend the user asked for with --device.</summary>
public enum DeviceKind { Auto, Cpu, Cuda, OpenCL, IlgpuCpu }

/// <summary>
/// One backend: the managed CPU implementation or an ILGPU accelerator. Stages in Core call
/// these operations and never a concrete backend. Later issues add their operations here.
/// </summary>
public interface IComputeBackend : IDisposable
{
    /// <summary>Short name: "cpu", "cuda", "opencl", "ilgpu-cpu".</summary>
    string Name { get; }

    /// <summary>One line for logs and reports: device name, memory, threads.</summary>
    string Description { get; }

    bool IsGpu { get; }

    /// <summary>
    /// Device memory one operation may take (bytes; the share of the device or of --gpu-memory left for data);
    /// null on the CPU path, where host memory and the callers' own budgets decide.
    /// </summary>
    long? WorkingMemoryBytes => null;

    /// <summary>What the backend's device allocations add up to (current and peak bytes); null on the CPU path.</summary>
    IDeviceMemoryMeter? DeviceMemory => null;

    IStackWarper Warper { get; }

    /// <summary>Residuals and normal-equation blocks of the bundle adjustment (the solve stage).</summary>
    IBundleNormalEquations BundleNormalEquations { get; }

    /// <summary>Batched 2-D real ↔ complex FFT on host buffers (verification, benchmarks, later stages).</summary>
    IFft2D Fft { get; }

    /// <summary>Batched cross-correlation of view pairs (the coarse stage).</summary>
    IPairCorrelator PairCorrelator { get; }

    /// <summary>Backprojection and forward projection of Y slabs (the reconstruction stage).</summary>
    IBackprojector Backprojector { get; }

    /// <summary>Backprojection with local alignments (reconstruct --local-xf); null where the backend has none.</summary>
    ILocalBackprojector? LocalBackprojector => null;

    /// <summary>Batched correlation of views with a small template (bead detection and tracking).</summary>
    ITemplateCorrelator TemplateCorrelator { get; }
}
