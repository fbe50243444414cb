using System.Buffers;
using System.Globalization;
using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;
using Tomalign.Core.Imaging;

namespace Tomalign.Core.Formats;

/// <summary>Options for a new MRC file. Pixel sizes in Å; a per-axis value overrides <see cref="PixelSizeAngstrom"/>.</summary>
public sealed record MrcWriteOptions
{
    public double PixelSizeAngstrom { get; init; } = 1;
    public double? PixelSizeX { get; init; }
    public double? PixelSizeY { get; init; }
    public double? PixelSizeZ { get; init; }
    public float OriginX { get; init; }
    public float OriginY { get; init; }
    public float OriginZ { get; init; }
    /// <summary>Labels to keep (blank ones dropped); at most 10 are written.</summary>
    public IReadOnlyList<string> Labels { get; init; } = [];
    /// <summary>Append a "Tomalign &lt;timestamp&gt;" label (as IMOD programs do).</summary>
    public bool AddTomalignLabel { get; init; } = true;
    /// <summary>Extended header written verbatim after the main header (NSYMBT = its length).</summary>
    public byte[]? ExtendedHeader { get; init; }
    /// <summary>EXTTYP, e.g. "FEI1", "SERI", "CCP4"; required by MRC2014 when an extended header is present.</summary>
    public string ExtendedType { get; init; } = "";
    /// <summary>ISPG: 0 for images and image stacks (default), 1 for a single volume.</summary>
    public int SpaceGroup { get; init; }
    /// <summary>Mode 0 only: write signed bytes (−128…127, IMOD stamp with flag 1) instead of unsigned (0…255, IMOD stamp, flags 0).
    /// Either way the IMOD stamp says which, so IMOD and Tomalign read the file back the same.</summary>
    public bool SignedBytes { get; init; }
    /// <summary>NINT and NREAL kept with an extended header (SerialEM: bytes per section and item flags; Agard: ints and reals per section).</summary>
    public short NInt { get; init; }
    public short NReal { get; init; }

    public double EffectivePixelSizeX => PixelSizeX ?? PixelSizeAngstrom;
    public double EffectivePixelSizeY => PixelSizeY ?? PixelSizeAngstrom;
    public double EffectivePixelSizeZ => PixelSizeZ ?? PixelSizeAngstrom;
}

/// <summary>
/// Writes an MRC2014 file (mode 0, 1, 2, 6 or 12, little-endian; integers rounded to nearest and clamped to the mode's range) to a temporary name in the destination folder,
/// sections in any order, then <see cref="Commit"/> writes the final header with statistics and renames
/// it into place atomically. Disposing without Commit deletes the temporary file and leaves any
/// existing file at the destination untouched. Different sections may be written from different threads.
/// </summary>
public sealed class MrcWriter : IDisposable
{
    private readonly SafeFileHandle _handle;
    private readonly MrcWriteOptions _options;
    private readonly PixelStats[] _sectionStats;
    private readonly bool[] _written;
    private readonly int[] _rowsWritten;
    private readonly long _dataOffset;
    private bool _committed, _disposed;

    private MrcWriter(string path, string tempPath, SafeFileHandle handle, int nx, int ny, int nz, MrcMode mode, MrcWriteOptions options)
    {
        Path = path; TempPath = tempPath; _handle = handle;
        Nx = nx; Ny = ny; Nz = nz; Mode = mode; _options = options;
        _sectionStats = new PixelStats[nz];
        _written = new bool[nz];
        _rowsWritten = new int[nz];
        _dataOffset = MrcHeader.Size + (long)(options.ExtendedHeader?.Length ?? 0);
    }

    public string Path { get; }
    /// <summary>Where the data goes until <see cref="Commit"/>.</summary>
    public string TempPath { get; }
    public int Nx { get; }
    public int Ny { get; }
    public int Nz { get; }
    public MrcMode Mode { get; }
    public bool Committed => _committed;

    public static MrcWriter Create(string path, int nx, int ny, int nz, MrcMode mode = MrcMode.Float32, MrcWriteOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (nx <= 0 || ny <= 0 || nz <= 0)
            throw new ArgumentOutOfRangeException(nameof(nx), $"MRC size {nx}×{ny}×{nz} must be positive");
        if ((long)nx * ny > Array.MaxLength)
            throw new ArgumentOutOfRangeException(nameof(nx), $"section {nx}×{ny} too large");
        if (!mode.IsWritable())
            throw new ArgumentException($"Tomalign writes MRC modes 0, 1, 2, 6 and 12, not {(int)mode}", nameof(mode));
        options ??= new MrcWriteOptions();
        string full = System.IO.Path.GetFullPath(path);
        string folder = System.IO.Path.GetDirectoryName(full) ?? ".";
        if (!Directory.Exists(folder))
            throw new TomalignInputException(path, $"output folder {folder} does not exist", "create the folder or choose another output path");
        string temp = $"{full}.tmp-{Guid.NewGuid():N}"[..(full.Length + 13)];
        SafeFileHandle handle;
        try
        {
            handle = File.OpenHandle(temp, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.None);
        }
        catch (UnauthorizedAccessException e) { throw new TomalignInputException(path, "permission denied creating the output", "choose a writable folder", e); }
        catch (IOException e) { throw new TomalignInputException(path, $"cannot create the output ({e.Message})", "check the folder, free disk space and permissions", e); }

        var writer = new MrcWriter(path, temp, handle, nx, ny, nz, mode, options);
        try
        {
            long length = writer._dataOffset + (long)nx * ny * nz * mode.BytesPerPixel();
            RandomAccess.SetLength(handle, length);   // sparse: unwritten sections read as zeros
            if (options.ExtendedHeader is { Length: > 0 } ext)
                RandomAccess.Write(handle, ext, MrcHeader.Size);
        }
        catch (IOException e)
        {
            writer.Dispose();
            throw new TomalignInputException(path, $"cannot write the output ({e.Message})", "check free disk space and permissions", e);
        }
        catch
        {
            writer.Dispose();
            throw;
        }
        return writer;
    }

    public void WriteSection(int z, ReadOnlySpan<float> source) => WriteSections(z, 1, source);

    public void WriteSections(int firstZ, int count, ReadOnlySpan<float> source)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_committed) throw new InvalidOperationException($"{Path} is already committed");
        if (firstZ < 0 || count < 0 || (long)firstZ + count > Nz)
            throw new ArgumentOutOfRangeException(nameof(firstZ), $"sections {firstZ}..{firstZ + count - 1} outside 0..{Nz - 1}");
        int section = Nx * Ny;
        if (source.Length < (long)section * count)
            throw new ArgumentException($"source holds {source.Length} floats, {(long)section * count} needed", nameof(source));
        int bpp = Mode.BytesPerPixel();
        for (int k = 0; k < count; k++)
        {
            int z = firstZ + k;
            var stats = PixelStats.Empty;
            WritePixels(source.Slice(k * section, section), _dataOffset + (long)z * section * bpp, ref stats, $"section {z}");
            _sectionStats[z] = stats;
            _rowsWritten[z] = Ny;
            _written[z] = true;
        }
    }

    /// <summary>
    /// Writes rows <paramref name="firstY"/> … of section <paramref name="z"/> (a Y slab of a
    /// volume streamed by rows). A section counts as written once all its rows are; write each
    /// row once.
    /// </summary>
    public void WriteRows(int z, int firstY, int rows, ReadOnlySpan<float> source)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_committed) throw new InvalidOperationException($"{Path} is already committed");
        if ((uint)z >= (uint)Nz) throw new ArgumentOutOfRangeException(nameof(z), $"section {z} outside 0..{Nz - 1}");
        if (firstY < 0 || rows < 0 || firstY + rows > Ny)
            throw new ArgumentOutOfRangeException(nameof(firstY), $"rows {firstY}..{firstY + rows - 1} outside 0..{Ny - 1}");
        if (source.Length < (long)rows * Nx)
            throw new ArgumentException($"source holds {source.Length} floats, {(long)rows * Nx} needed", nameof(source));
        int bpp = Mode.BytesPerPixel();
        var stats = _rowsWritten[z] == 0 ? PixelStats.Empty : _sectionStats[z];
        WritePixels(source[..(rows * Nx)], _dataOffset + ((long)z * Ny + firstY) * Nx * bpp, ref stats, $"section {z}, rows {firstY}..{firstY + rows - 1}");
        _sectionStats[z] = stats;
        _rowsWritten[z] += rows;
        _written[z] = _rowsWritten[z] >= Ny;
    }

    private void WritePixels(ReadOnlySpan<float> src, long offset, ref PixelStats stats, string what)
    {
        int bpp = Mode.BytesPerPixel();
        int total = src.Length;
        byte[]? buffer = Mode == MrcMode.Float32 && BitConverter.IsLittleEndian ? null
            : ArrayPool<byte>.Shared.Rent(Math.Min(total, MrcPixels.ChunkPixels) * bpp);
        float[]? stored = Mode is MrcMode.Float32 ? null : ArrayPool<float>.Shared.Rent(Math.Min(total, MrcPixels.ChunkPixels));
        try
        {
            for (int done = 0; done < total;)
            {
                int n = Math.Min(MrcPixels.ChunkPixels, total - done);
                var chunk = src.Slice(done, n);
                ReadOnlySpan<byte> bytes;
                if (stored is not null)
                {
                    var back = stored.AsSpan(0, n);
                    MrcPixels.FromFloat(chunk, buffer.AsSpan(0, n * bpp), back, Mode, _options.SignedBytes);
                    stats.Add(PixelStats.Of(back));   // statistics of what the file holds
                    bytes = buffer.AsSpan(0, n * bpp);
                }
                else if (buffer is null)
                {
                    stats.Add(PixelStats.Of(chunk));
                    bytes = MemoryMarshal.AsBytes(chunk);
                }
                else
                {
                    stats.Add(PixelStats.Of(chunk));
                    var ints = MemoryMarshal.Cast<byte, int>(buffer.AsSpan(0, n * 4));
                    System.Buffers.Binary.BinaryPrimitives.ReverseEndianness(MemoryMarshal.Cast<float, int>(chunk), ints);
                    bytes = buffer.AsSpan(0, n * 4);
                }
                try { RandomAccess.Write(_handle, bytes, offset); }
                catch (IOException e)
                {
                    throw new TomalignInputException(Path, $"cannot write {what} ({e.Message})", "check free disk space", e);
                }
                done += n; offset += (long)n * bpp;
            }
        }
        finally
        {
            if (buffer is not null) ArrayPool<byte>.Shared.Return(buffer);
            if (stored is not null) ArrayPool<float>.Shared.Return(stored);
        }
    }

    public MrcStatistics Statistics => Total().ToStatistics();

    /// <summary>How many distinct sections have been written.</summary>
    public int SectionsWritten => _written.Count(w => w);

    private PixelStats Total()
    {
        var total = PixelStats.Empty;
        for (int z = 0; z < Nz; z++)
            total.Add(_written[z] ? _sectionStats[z] : PixelStats.Zeros((long)Nx * Ny));
        return total;
    }

    /// <summary>The header Commit will write.</summary>
    public MrcHeader BuildHeader()
    {
        var o = _options;
        var s = Total();
        bool any = s.Count > 0;
        float min = any ? (float)s.Min : 0, max = any ? (float)s.Max : 0;
        float mean = any ? (float)s.Mean : 0, rms = any ? (float)s.Std : -1;
        return new MrcHeader
        {
            Nx = Nx, Ny = Ny, Nz = Nz, Mode = Mode,
            Mx = Nx, My = Ny, Mz = Nz,
            CellX = (float)(Nx * o.EffectivePixelSizeX),
            CellY = (float)(Ny * o.EffectivePixelSizeY),
            CellZ = (float)(Nz * o.EffectivePixelSizeZ),
            DMin = min, DMax = max, DMean = mean, Rms = rms,
            SpaceGroup = o.SpaceGroup,
            ExtendedHeaderBytes = o.ExtendedHeader?.Length ?? 0,
            ExtendedType = o.ExtendedType ?? "",
            NVersion = 20141,
            NInt = o.ExtendedHeader is { Length: > 0 } ? o.NInt : (short)0,
            NReal = o.ExtendedHeader is { Length: > 0 } ? o.NReal : (short)0,
            ImodStamp = Mode == MrcMode.Int8 ? MrcHeader.ImodStampValue : 0,
            ImodFlags = Mode == MrcMode.Int8 && o.SignedBytes ? 1 : 0,
            OriginX = o.OriginX, OriginY = o.OriginY, OriginZ = o.OriginZ,
            HasMapId = true,
            Labels = ComposeLabels(o),
        };
    }

    internal static List<string> ComposeLabels(MrcWriteOptions o)
    {
        var labels = (o.Labels ?? []).Where(l => !string.IsNullOrWhiteSpace(l)).ToList();
        if (o.AddTomalignLabel)
        {
            string stamp = DateTime.Now.ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture);
            labels.Add($"Tomalign: written {stamp}");
        }
        // Keep the first (origin) label and the newest ones, as IMOD does when all 10 are used.
        while (labels.Count > MrcHeader.MaxLabels) labels.RemoveAt(1);
        return labels;
    }

    /// <summary>Writes the final header, flushes to disk, and renames the temporary file to <see cref="Path"/>.</summary>
    public void Commit()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_committed) return;
        try
        {
            RandomAccess.Write(_handle, BuildHeader().ToBytes(), 0);
            RandomAccess.FlushToDisk(_handle);
            _handle.Dispose();
            File.Move(TempPath, Path, overwrite: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            Dispose();
            throw new TomalignInputException(Path, $"cannot finish writing the output ({e.Message})",
                "check free disk space and that the destination is writable and not a folder", e);
        }
        _committed = true;
    }

    /// <summary>Closes the file; without <see cref="Commit"/>, deletes the temporary file. Throws nothing.</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        try { _handle.Dispose(); } catch { /* nothing to report */ }
        if (!_committed)
            try { File.Delete(TempPath); } catch { /* best effort */ }
    }

    /// <summary>Writes a whole in-memory stack.</summary>
    public static void WriteStack(string path, ImageStack stack, MrcMode mode = MrcMode.Float32, MrcWriteOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(stack);
        using var w = Create(path, stack.Nx, stack.Ny, stack.Nz, mode, options);
        w.WriteSections(0, stack.Nz, stack.Data);
        w.Commit();
    }

    /// <summary>Options that keep a source file's pixel size, origin, labels and (when given) its extended header.</summary>
    public static MrcWriteOptions CopyHeaderOptions(MrcHeader from, byte[]? extendedHeader = null)
    {
        ArgumentNullException.ThrowIfNull(from);
        bool keepExt = extendedHeader is { Length: > 0 };
        return new MrcWriteOptions
        {
            PixelSizeAngstrom = from.PixelSizeX,
            PixelSizeX = from.PixelSizeX, PixelSizeY = from.PixelSizeY, PixelSizeZ = from.PixelSizeZ,
            OriginX = from.OriginX, OriginY = from.OriginY, OriginZ = from.OriginZ,
            Labels = from.Labels.ToArray(),
            ExtendedHeader = keepExt ? extendedHeader : null,
            ExtendedType = keepExt ? from.ExtendedType : "",
            SpaceGroup = from.SpaceGroup,
            NInt = keepExt ? from.NInt : (short)0,
            NReal = keepExt ? from.NReal : (short)0,
        };
    }
}
