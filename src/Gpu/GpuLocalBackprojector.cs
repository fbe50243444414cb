using System.Runtime.InteropServices;
using ILGPU;
using ILGPU.Runtime;
using Tomalign.Core.Backend;
using Tomalign.Kernels;

namespace Tomalign.Gpu;

/// <summary>
/// Backprojection with local alignments on an ILGPU accelerator (one launch per slab); WBP filters the held rows on the device
/// with <see cref="GpuBackprojector"/>'s row filter first, in place, so only the slab comes back.
/// </summary>
public sealed class GpuLocalBackprojector : ILocalBackprojector
{
    private readonly Accelerator _accelerator;
    private readonly DeviceMemoryMeter _meter;
    private readonly GpuBackprojector _filter;
    private readonly Action<Index3D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, LocalSlabShape> _backproject;

    /// <param name="filter">the backprojector whose row filter (pad, device FFT, weight, crop) WBP uses.</param>
    public GpuLocalBackprojector(Accelerator accelerator, DeviceMemoryMeter meter, GpuBackprojector filter)
    {
        _accelerator = accelerator ?? throw new ArgumentNullException(nameof(accelerator));
        _meter = meter ?? throw new ArgumentNullException(nameof(meter));
        _filter = filter ?? throw new ArgumentNullException(nameof(filter));
        _backproject = accelerator.LoadAutoGroupedStreamKernel<Index3D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, LocalSlabShape>(
            LocalReconstructionKernels.Backproject);
    }

    public void Backproject(ReadOnlySpan<float> projections, ReadOnlySpan<float> columns, ReadOnlySpan<float> weights, LocalSlabGeometry g, Span<float> slab)
    {
        g.Validate(projections.Length, columns.Length, weights.Length, slab.Length);
        using var p = Upload(projections[..(int)g.ProjectionLength]);
        Run(p, columns, weights, g, slab);
    }

    public void FilterBackproject(ReadOnlySpan<float> projections, ReadOnlySpan<float> filter, int pad, ReadOnlySpan<float> columns,
        ReadOnlySpan<float> weights, LocalSlabGeometry g, Span<float> slab)
    {
        g.Validate(projections.Length, columns.Length, weights.Length, slab.Length);
        int lines = g.Views * g.InRows;
        RowFilterArguments.Validate(lines, g.Width, filter.Length, pad);
        using var p = Upload(projections[..(int)g.ProjectionLength]);
        // Lines per filter batch: the padded lines and their spectrum within 256 MiB.
        int batch = (int)Math.Clamp((256L << 20) / (4L * pad * 3), 1, lines);
        _filter.Filter(p.View, p.View, lines, g.Width, filter, pad, batch);   // in place
        Run(p, columns, weights, g, slab);
    }

    private void Run(DeviceBuffer<float> p, ReadOnlySpan<float> columns, ReadOnlySpan<float> weights, LocalSlabGeometry g, Span<float> slab)
    {
        using var c = Upload(columns[..(int)g.ColumnLength]);
        using var w = Upload(weights);
        using var o = _meter.Allocate1D<float>(g.SlabLength);
        _backproject(new Index3D(g.Width, g.Thickness, g.Rows), p.View, c.View, w.View, o.View,
            new LocalSlabShape(g.Width, g.Rows, g.Views, g.Thickness, g.ZShift, g.InRows));
        _accelerator.Synchronize();
        o.View.CopyToCPU(ref MemoryMarshal.GetReference(slab), g.SlabLength);
    }

    private DeviceBuffer<float> Upload(ReadOnlySpan<float> data)
    {
        var b = _meter.Allocate1D<float>(data.Length);
        if (data.Length > 0) b.View.SubView(0, data.Length).CopyFromCPU(ref MemoryMarshal.GetReference(data), data.Length);
        return b;
    }
}
