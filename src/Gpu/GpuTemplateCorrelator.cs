using System.Runtime.InteropServices;
using ILGPU;
using ILGPU.Runtime;
using Tomalign.Core.Backend;
using Tomalign.Kernels;

namespace Tomalign.Gpu;

/// <summary>Batched template correlation on an ILGPU accelerator, in chunks of whole views that fit in device memory.</summary>
public sealed class GpuTemplateCorrelator : ITemplateCorrelator
{
    private readonly Accelerator _accelerator;
    private readonly DeviceMemoryMeter _meter;
    private readonly Action<Index3D, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, int> _kernel;

    /// <param name="meter">counts the device memory; null: a meter of its own, without a limit.</param>
    public GpuTemplateCorrelator(Accelerator accelerator, DeviceMemoryMeter? meter = null)
    {
        _accelerator = accelerator ?? throw new ArgumentNullException(nameof(accelerator));
        _meter = meter ?? new DeviceMemoryMeter(accelerator);
        _kernel = accelerator.LoadAutoGroupedStreamKernel<Index3D, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, int>(TemplateKernels.Correlate);
    }

    /// <summary>Overrides the device memory the chunking assumes (--gpu-memory; tests force several chunks with it).</summary>
    public long? MemoryBudgetOverride { get; set; }

    public void Correlate(ReadOnlySpan<float> views, int nx, int ny, int nz, ReadOnlySpan<float> template, int size, Span<float> output)
    {
        TemplateCorrelationArguments.Validate(views.Length, nx, ny, nz, template.Length, size, output.Length);
        long perView = (long)nx * ny;
        var plan = DeviceMemoryPlan.TemplateCorrelation(nx, ny, nz, size, MemoryBudgetOverride ?? _accelerator.MemorySize);
        if (!plan.Fits) throw DeviceMemoryPlan.TooSmall($"correlating one {nx}×{ny} view with a bead template", plan.Bytes, plan.BudgetBytes);
        int chunk = plan.PerChunk;
        using var t = _meter.Allocate1D<float>(template.Length);
        if (template.Length > 0) t.View.SubView(0, template.Length).CopyFromCPU(ref MemoryMarshal.GetReference(template), template.Length);
        using var src = _meter.Allocate1D<float>(chunk * perView);
        using var dst = _meter.Allocate1D<float>(chunk * perView);
        foreach (var (start, count) in DeviceChunking.Chunks(nz, chunk))
        {
            var s = src.View.SubView(0, count * perView);
            var d = dst.View.SubView(0, count * perView);
            s.CopyFromCPU(ref MemoryMarshal.GetReference(views.Slice((int)(start * perView), (int)(count * perView))), count * perView);
            _kernel(new Index3D(nx, ny, count), s, t.View, d, nx, ny, size);
            _accelerator.Synchronize();
            d.CopyToCPU(ref MemoryMarshal.GetReference(output.Slice((int)(start * perView), (int)(count * perView))), count * perView);
        }
    }
}
