using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Tomalign.Core.Backend;
using Tomalign.Core.Fft;
using Tomalign.Core.Formats;
using Tomalign.Core.Geometry;
using Tomalign.Core.Imaging;

namespace Tomalign.Core.Reconstruction;

/// <summary>
/// Weighted backprojection with local alignments (IMOD tilt with LOCALFILE): every voxel column is projected into each view
/// through the transforms of the nearest local areas, mixed bilinearly by its x and y (<see cref="LocalAlignmentFile.Column"/>),
/// so that the projection of a voxel at depth z is linear in z. Streamed by slabs of Y rows like <see cref="Reconstructor"/>:
/// a slab's column table is computed on the host, its band of input rows read (binned, −ln'd with --log), filtered and
/// backprojected by the backend's <see cref="ILocalBackprojector"/>, and its rows written. The output is committed only
/// when every slab is written. SIRT with local alignments is refused (as IMOD's tilt does).
/// </summary>
public sealed class LocalReconstructor(IComputeBackend backend, ILogger? logger = null)
{
    private readonly IComputeBackend _backend = backend ?? throw new ArgumentNullException(nameof(backend));
    private readonly ILogger _log = logger ?? NullLogger.Instance;

    /// <summary>Reconstructs the aligned stack in <paramref name="alignedPath"/> with the local alignments <paramref name="local"/>.</summary>
    public ReconstructionSummary Run(string alignedPath, IReadOnlyList<double> tiltDegrees, LocalAlignmentFile local, string outputPath,
        ReconstructionOptions o, IProgress<double>? progress = null, CancellationToken cancel = default)
    {
        o.Validate();
        using var reader = MrcReader.Open(alignedPath);
        return Reconstruct(alignedPath, reader.Nx, reader.Ny, reader.Nz, reader.Header.PixelSizeX,
            (z, y0, rows, dst) => reader.ReadRows(z, y0, rows, dst), tiltDegrees, local, outputPath, o, progress, cancel);
    }

    /// <summary>Reconstructs an aligned stack held in memory (as from a file with its pixels).</summary>
    public ReconstructionSummary Run(ImageStack aligned, double pixelSizeAngstrom, string name, IReadOnlyList<double> tiltDegrees, LocalAlignmentFile local,
        string outputPath, ReconstructionOptions o, IProgress<double>? progress = null, CancellationToken cancel = default)
    {
        ArgumentNullException.ThrowIfNull(aligned);
        o.Validate();
        return Reconstruct(name, aligned.Nx, aligned.Ny, aligned.Nz, pixelSizeAngstrom,
            (z, y0, rows, dst) => aligned.Data.AsSpan((int)(((long)z * aligned.Ny + y0) * aligned.Nx), rows * aligned.Nx).CopyTo(dst),
            tiltDegrees, local, outputPath, o, progress, cancel);
    }

    private delegate void ReadRows(int z, int firstY, int rows, Span<float> destination);

    private ReconstructionSummary Reconstruct(string name, int nx, int ny, int views, double pixelSize, ReadRows read, IReadOnlyList<double> tiltDegrees,
        LocalAlignmentFile local, string outputPath, ReconstructionOptions o, IProgress<double>? progress, CancellationToken cancel)
    {
        ArgumentNullException.ThrowIfNull(local);
        if (o.Method != ReconstructionMethod.Wbp)
            throw new TomalignInputException(null, "SIRT with local alignments is not supported (IMOD's tilt refuses it too)", "use --method wbp with --local-xf");
        if (tiltDegrees.Count != views)
            throw new TomalignInputException(name, $"has {views} views but {tiltDegrees.Count} tilt angles were given", "give the .tlt of this aligned stack (one angle per view)");
        if (local.Views != views)
            throw new TomalignInputException(name, $"has {views} views but the local alignments are for {local.Views}", "give the NAMElocal.xf of this stack");
        var lb = _backend.LocalBackprojector
            ?? throw new TomalignInputException(null, $"the {_backend.Name} backend has no local-alignment backprojection", "use --device cpu with --local-xf");
        for (int i = 0; i < views; i++)
            if (!(Math.Abs(tiltDegrees[i]) < 89)) throw new TomalignInputException(null, $"tilt {tiltDegrees[i]}° of view {i} cannot be reconstructed", "give tilts within ±89°");
        // Views left out (tilt's EXCLUDELIST): neither read nor backprojected nor counted in the weights, as in the plain WBP.
        int[] keep = ViewScreening.KeptViews(o.ExcludedViews, views);
        if (keep.Length < 2)
            throw new TomalignInputException(name, $"only {keep.Length} of its {views} views are left to reconstruct", "exclude fewer views");
        if (keep.Length < views)
        {
            var all = read;
            read = (z, y0, rows, dst) => all(keep[z], y0, rows, dst);
            tiltDegrees = keep.Select(v => tiltDegrees[v]).ToArray();
            views = keep.Length;
        }
        int bin = o.Bin;
        Reconstructor.CheckBinning(name, nx, ny, bin);
        int fullWidth = nx / bin, fullHeight = ny / bin;
        int width = o.Width > 0 ? Math.Min(o.Width, fullWidth) : fullWidth;
        int x0 = (fullWidth - width) / 2;
        var (yFirst, yLast) = o.Slices ?? (0, fullHeight - 1);
        if (yFirst < 0 || yLast >= fullHeight || yFirst > yLast)
            throw new TomalignInputException(null, $"slices {yFirst}–{yLast} are not inside 0–{fullHeight - 1}", "give --slices FIRST,LAST within the (binned) stack height");
        int height = yLast - yFirst + 1, thickness = o.Thickness;
        var weights = Reconstructor.TrapezoidWeights(tiltDegrees);
        int pad = FftSize.NextGood(2 * width);
        float[] filter = Reconstructor.RampFilter(pad, o);
        long bytesPerRow = 4L * (2L * views * Math.Max(pad, width) + (long)thickness * width + 4L * views * width);
        long budget = _backend.WorkingMemoryBytes is { } device ? Math.Min(o.SlabMemoryBytes, device) : o.SlabMemoryBytes;
        int rowsPerSlab = (int)Math.Clamp(budget / Math.Max(1, bytesPerRow), 1, height);
        int slabs = (height + rowsPerSlab - 1) / rowsPerSlab;
        _log.LogInformation("reconstruct: WBP with {Nx}×{Ny} local areas of {Views} views into {W}×{H}×{T} (bin {Bin}), {Slabs} slab(s) of {Rows} rows on {Backend}",
            local.NumberX, local.NumberY, views, width, height, thickness, bin, slabs, rowsPerSlab, _backend.Name);

        var writeOptions = new MrcWriteOptions
        {
            PixelSizeAngstrom = pixelSize * bin,
            Labels = [$"tomalign reconstruct: WBP with local alignments, thickness {thickness}, bin {bin}"],
        };
        int outNx = width, outNy = o.Layout == VolumeLayout.Xyz ? height : thickness, outNz = o.Layout == VolumeLayout.Xyz ? thickness : height;
        using var writer = MrcWriter.Create(outputPath, outNx, outNy, outNz, o.OutputMode, writeOptions);
        var clock = System.Diagnostics.Stopwatch.StartNew();
        double tProject = 0, tIo = 0;
        float zLo = -thickness / 2.0f + o.ZShift, zHi = thickness - 1 - thickness / 2.0f + o.ZShift;
        for (int sIdx = 0; sIdx < slabs; sIdx++)
        {
            cancel.ThrowIfCancellationRequested();
            int y0 = yFirst + sIdx * rowsPerSlab, rows = Math.Min(rowsPerSlab, yLast + 1 - y0);
            var t0 = clock.Elapsed.TotalSeconds;
            // Column table in binned pixels of the whole stack (u from column 0, v from row 0), then the band of rows it reaches.
            var columns = LocalColumns.Table(local, tiltDegrees, o.XAxisTiltDegrees, nx, ny, bin, x0, width, y0, rows, keep);
            double vMin = double.MaxValue, vMax = double.MinValue;
            for (long c = 0; c < columns.Length; c += 4)
            {
                double a = columns[c + 2] + columns[c + 3] * zLo, b = columns[c + 2] + columns[c + 3] * zHi;
                vMin = Math.Min(vMin, Math.Min(a, b)); vMax = Math.Max(vMax, Math.Max(a, b));
            }
            int in0 = Math.Clamp((int)Math.Floor(vMin), 0, fullHeight - 1);
            int in1 = Math.Clamp((int)Math.Ceiling(vMax) + 1, in0, fullHeight - 1);
            int inRows = in1 - in0 + 1;
            for (long c = 0; c < columns.Length; c += 4) { columns[c] -= x0; columns[c + 2] -= in0; }
            tProject += clock.Elapsed.TotalSeconds - t0;

            t0 = clock.Elapsed.TotalSeconds;
            var proj = ReadBand(name, read, nx, views, bin, x0, width, in0, inRows, o.Log);
            tIo += clock.Elapsed.TotalSeconds - t0;

            t0 = clock.Elapsed.TotalSeconds;
            var g = new LocalSlabGeometry(width, rows, views, thickness, o.ZShift, inRows);
            var slab = new float[g.SlabLength];
            lb.FilterBackproject(proj, filter, pad, columns, weights, g, slab);
            tProject += clock.Elapsed.TotalSeconds - t0;

            t0 = clock.Elapsed.TotalSeconds;
            if (o.Layout == VolumeLayout.Xyz)
            {
                var rowsOfZ = new float[(long)rows * width];
                for (int z = 0; z < thickness; z++)
                {
                    for (int r = 0; r < rows; r++)
                        slab.AsSpan((int)(((long)r * thickness + z) * width), width).CopyTo(rowsOfZ.AsSpan(r * width, width));
                    writer.WriteRows(z, y0 - yFirst, rows, rowsOfZ);
                }
            }
            else
            {
                // IMOD tilt's layout, as the plain WBP writes it: each Y section's rows from the top of the specimen down.
                var flipped = new float[slab.Length];
                for (int r = 0; r < rows; r++)
                    for (int z = 0; z < thickness; z++)
                        slab.AsSpan((int)(((long)r * thickness + z) * width), width)
                            .CopyTo(flipped.AsSpan((int)(((long)r * thickness + (thickness - 1 - z)) * width), width));
                writer.WriteSections(y0 - yFirst, rows, flipped);
            }
            tIo += clock.Elapsed.TotalSeconds - t0;
            progress?.Report((sIdx + 1.0) / slabs * 0.999);
        }
        cancel.ThrowIfCancellationRequested();
        writer.Commit();
        progress?.Report(1.0);
        return new ReconstructionSummary(outNx, outNy, outNz, slabs, rowsPerSlab, 0, tProject, tIo);
    }

    /// <summary>Rows in0 … in0+inRows−1 (binned) of every view, columns x0 … x0+width−1 (binned); a NaN or infinite pixel is an input error.</summary>
    private static float[] ReadBand(string name, ReadRows read, int nx, int views, int bin, int x0, int width, int in0, int inRows, bool log)
    {
        var proj = new float[(long)views * inRows * width];
        var block = new float[(long)bin * nx];
        for (int i = 0; i < views; i++)
            for (int r = 0; r < inRows; r++)
            {
                read(i, (in0 + r) * bin, bin, block);
                var dst = proj.AsSpan((int)(((long)i * inRows + r) * width), width);
                for (int x = 0; x < width; x++)
                {
                    double sum = 0;
                    int sx = (x0 + x) * bin;
                    for (int by = 0; by < bin; by++)
                        for (int bx = 0; bx < bin; bx++) sum += block[by * nx + sx + bx];
                    float v = (float)(sum / (bin * bin));
                    if (!float.IsFinite(v))
                        throw new TomalignInputException(name, $"view {i} has NaN or infinite pixels near row {(in0 + r) * bin}", "replace or remove the bad view");
                    dst[x] = log ? -MathF.Log(MathF.Max(v, 1e-6f)) : v;
                }
            }
        return proj;
    }
}

/// <summary>The column table of a local slab (<see cref="LocalSlabGeometry"/>) from a local-alignment file.</summary>
public static class LocalColumns
{
    /// <summary>
    /// [r][x][view][Uf, Uz, Vf, Vz] for rows y0 … y0+rows−1 and columns x0 … x0+width−1 of the binned volume: u (a column of the
    /// whole binned stack, from 0) = Uf + Uz·Z and v (a row, from 0) = Vf + Vz·Z for the voxel at binned depth Z from the centre.
    /// The file's transforms are in unbinned pixels of the <paramref name="nx"/> × <paramref name="ny"/> aligned stack.
    /// </summary>
    /// <param name="views">the file's view of each of <paramref name="tiltDegrees"/> (views left out removed); null: the same index.</param>
    public static float[] Table(LocalAlignmentFile local, IReadOnlyList<double> tiltDegrees, double xTiltDegrees, int nx, int ny, int bin,
        int x0, int width, int y0, int rows, IReadOnlyList<int>? views = null)
    {
        ArgumentNullException.ThrowIfNull(local);
        ArgumentNullException.ThrowIfNull(tiltDegrees);
        int count = tiltDegrees.Count;
        int fullWidth = nx / bin, fullHeight = ny / bin;
        double xc = fullWidth / 2.0, yc = fullHeight / 2.0;
        var t = new float[4L * rows * width * count];
        Parallel.For(0, rows, r =>
        {
            double y = (y0 + r - yc) * bin;
            for (int x = 0; x < width; x++)
            {
                double xx = (x0 + x - xc) * bin;
                long o = 4L * ((long)r * width + x) * count;
                for (int i = 0; i < count; i++)
                {
                    var (uf, uz, vf, vz) = local.Column(views?[i] ?? i, xx, y, tiltDegrees[i], xTiltDegrees, nx, ny);
                    t[o + 4 * i] = (float)(uf / bin + xc);
                    t[o + 4 * i + 1] = (float)uz;
                    t[o + 4 * i + 2] = (float)(vf / bin + yc);
                    t[o + 4 * i + 3] = (float)vz;
                }
            }
        });
        return t;
    }
}
