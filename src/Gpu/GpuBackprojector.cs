using System.Runtime.InteropServices;
using ILGPU;
using ILGPU.Runtime;
using Tomalign.Core.Backend;
using Tomalign.Kernels;

namespace Tomalign.Gpu;

/// <summary>Backprojection and forward projection of a Y slab on an ILGPU accelerator (one launch each).</summary>
public sealed class GpuBackprojector : IBackprojector
{
    private readonly Accelerator _accelerator;
    private readonly DeviceMemoryMeter _meter;
    private readonly Action<Index3D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, SlabShape> _backproject;
    private readonly Action<Index3D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, SlabShape> _project;

    /// <param name="meter">counts the device memory; null: a meter of its own, without a limit.</param>
    public GpuBackprojector(Accelerator accelerator, DeviceMemoryMeter? meter = null)
    {
        _accelerator = accelerator ?? throw new ArgumentNullException(nameof(accelerator));
        _meter = meter ?? new DeviceMemoryMeter(accelerator);
        _backproject = accelerator.LoadAutoGroupedStreamKernel<Index3D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, SlabShape>(
            ReconstructionKernels.Backproject);
        _project = accelerator.LoadAutoGroupedStreamKernel<Index3D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, SlabShape>(
            ReconstructionKernels.Project);
    }

    public void Backproject(ReadOnlySpan<float> projections, ReadOnlySpan<float> cosines, ReadOnlySpan<float> sines,
        ReadOnlySpan<float> weights, SlabGeometry g, Span<float> slab)
    {
        g.Validate(cosines.Length, sines.Length, weights.Length, projections.Length, slab.Length);
        CheckBudget("backprojecting", g, DeviceMemoryPlan.Backproject(g));
        using var p = Upload(projections[..(int)g.ProjectionLength]);
        using var c = Upload(cosines);
        using var s = Upload(sines);
        using var w = Upload(weights);
        using var o = _meter.Allocate1D<float>(g.SlabLength);
        _backproject(new Index3D(g.Width, g.Thickness, g.Rows), p.View, c.View, s.View, w.View, o.View, Shape(g));
        _accelerator.Synchronize();
        o.View.CopyToCPU(ref MemoryMarshal.GetReference(slab), g.SlabLength);
    }

    public void Project(ReadOnlySpan<float> slab, ReadOnlySpan<float> cosines, ReadOnlySpan<float> sines, SlabGeometry g, Span<float> projections)
    {
        g.Validate(cosines.Length, sines.Length, cosines.Length, projections.Length, slab.Length);
        g.ValidateForProjection();
        CheckBudget("projecting", g, DeviceMemoryPlan.Project(g));
        using var v = Upload(slab[..(int)g.SlabLength]);
        using var c = Upload(cosines);
        using var s = Upload(sines);
        using var o = _meter.Allocate1D<float>(g.ProjectionLength);
        _project(new Index3D(g.Width, g.Rows, g.Views), v.View, c.View, s.View, o.View, Shape(g));
        _accelerator.Synchronize();
        o.View.CopyToCPU(ref MemoryMarshal.GetReference(projections), g.ProjectionLength);
    }

    private static SlabShape Shape(SlabGeometry g) => new(g.Width, g.Rows, g.Views, g.Thickness, g.ZShift, g.ProjectionRows, g.CosPhi, g.SinPhi, g.RowOffset, g.InRowOrigin);

    /// <summary>Overrides the device memory the budget check assumes (--gpu-memory).</summary>
    public long? MemoryBudgetOverride { get; set; }

    /// <summary>One slab must fit the working share of the device; the reconstructor plans slabs so that it does.</summary>
    private void CheckBudget(string what, SlabGeometry g, long bytes)
    {
        long budget = DeviceMemoryPlan.Budget(MemoryBudgetOverride ?? _accelerator.MemorySize);
        if (bytes > budget) throw DeviceMemoryPlan.TooSmall($"{what} a slab of {g.Rows} rows × {g.Width} × {g.Thickness} ({g.Views} views)", bytes, budget);
    }

    private DeviceBuffer<float> Upload(ReadOnlySpan<float> data)
    {
        var b = _meter.Allocate1D<float>(data.Length);
        if (data.Length > 0) b.View.SubView(0, data.Length).CopyFromCPU(ref MemoryMarshal.GetReference(data), data.Length);
        return b;
    }
}
