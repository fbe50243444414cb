using System.Buffers;
using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;
using Tomalign.Core.Imaging;

namespace Tomalign.Core.Formats;

/// <summary>
/// Reads an MRC2014 file section by section with positioned reads, converting any supported mode
/// (0 signed/unsigned, 1, 2, 6, 12; either byte order) to float. Never loads the file whole unless
/// <see cref="ReadAll"/> is asked. Reads are positioned and use no shared buffer, so different threads
/// may read different sections of one reader at the same time. A multi-page TIFF stack (<see cref="TiffStack"/>) is
/// read the same way, one page decoded at a time, so every command that takes a stack takes one.
/// </summary>
public sealed class MrcReader : IDisposable
{
    private readonly SafeFileHandle _handle;
    /// <summary>The TIFF stack behind this reader, when the file is one (null for an MRC file).</summary>
    private readonly TiffStack? _tiff;

    private MrcReader(string path, SafeFileHandle handle, MrcHeader header, long fileLength, TiffStack? tiff = null)
    {
        Path = path; _handle = handle; Header = header; FileLength = fileLength; _tiff = tiff;
        TrailingBytes = tiff is null ? fileLength - header.DataOffset - header.DataBytes : 0;
    }

    /// <summary>True when the file is a TIFF stack (its <see cref="Header"/> describes the pixels; the file has no MRC header).</summary>
    public bool IsTiff => _tiff is not null;

    public string Path { get; }
    public MrcHeader Header { get; }
    public long FileLength { get; }
    /// <summary>Bytes after the data that the header does not account for (0 for a well-formed file).</summary>
    public long TrailingBytes { get; }

    public int Nx => Header.Nx;
    public int Ny => Header.Ny;
    public int Nz => Header.Nz;

    /// <summary>Opens and validates an MRC file. Every problem is a <see cref="TomalignInputException"/>
    /// naming the file, what is wrong, and how to fix it.</summary>
    public static MrcReader Open(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        SafeFileHandle handle;
        try
        {
            handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.Read, FileOptions.RandomAccess);
        }
        catch (FileNotFoundException) { throw new TomalignInputException(path, "file not found", "check the path and the current folder"); }
        catch (DirectoryNotFoundException) { throw new TomalignInputException(path, "folder not found", "check the path and the current folder"); }
        catch (UnauthorizedAccessException e) { throw new TomalignInputException(path, "permission denied", "make the file readable (chmod +r) or run as its owner", e); }
        catch (IOException e) { throw new TomalignInputException(path, $"cannot open the file ({e.Message})", "check that it is a readable regular file", e); }

        try
        {
            long length = RandomAccess.GetLength(handle);
            var magic = new byte[(int)Math.Min(8, length)];
            if (magic.Length > 0) ReadExactly(handle, magic, 0, path);
            if (IsTiffSignature(magic))
            {
                var tiff = TiffStack.Open(path);
                return new MrcReader(path, handle, tiff.Header(), length, tiff);
            }
            if (OtherFormat(magic, path) is { } other)
                throw new TomalignInputException(path, $"is {other.What}, not an MRC file", other.Fix);
            if (length < MrcHeader.Size)
                throw new TomalignInputException(path,
                    $"file is {length} bytes, shorter than the {MrcHeader.Size}-byte MRC header",
                    "this is not an MRC file or it was cut short; copy it again");
            var raw = new byte[MrcHeader.Size];
            ReadExactly(handle, raw, 0, path);
            var h = MrcHeader.Parse(raw);
            Validate(path, h, length);
            return new MrcReader(path, handle, h, length);
        }
        catch
        {
            handle.Dispose();
            throw;
        }
    }

    /// <summary>
    /// What a file is when its first bytes are another format's signature (PNG, JPEG, HDF5, compressed files; a TIFF is
    /// read, <see cref="IsTiffSignature"/>), with the fix; null when they could start an MRC header.
    /// </summary>
    internal static bool IsTiffSignature(ReadOnlySpan<byte> b) =>
        b.Length >= 4 && ((b[0] == 0x49 && b[1] == 0x49 && b[2] == 0x2A && b[3] == 0x00) || (b[0] == 0x4D && b[1] == 0x4D && b[2] == 0x00 && b[3] == 0x2A)
                          || (b[0] == 0x49 && b[1] == 0x49 && b[2] == 0x2B && b[3] == 0x00) || (b[0] == 0x4D && b[1] == 0x4D && b[2] == 0x00 && b[3] == 0x2B));

    internal static (string What, string Fix)? OtherFormat(ReadOnlySpan<byte> b, string path)
    {
        string name = System.IO.Path.GetFileName(path), mrc = System.IO.Path.ChangeExtension(name, ".mrc");
        static bool Starts(ReadOnlySpan<byte> b, ReadOnlySpan<byte> sig) => b.Length >= sig.Length && b[..sig.Length].SequenceEqual(sig);
        if (Starts(b, [0x89, 0x50, 0x4E, 0x47]))
            return ("a PNG image", "give the tilt series as an MRC stack (IMOD's tif2mrc and newstack convert images)");
        if (Starts(b, [0xFF, 0xD8, 0xFF]))
            return ("a JPEG image", "give the tilt series as an MRC stack; a JPEG has lost the data's values");
        if (Starts(b, [0x89, 0x48, 0x44, 0x46]))
            return ("an HDF5 file", "convert it to MRC first (e.g. with EMAN2's e2proc2d.py)");
        if (Starts(b, [0x1F, 0x8B]))
            return ("a gzip-compressed file", $"decompress it first: gunzip -k {name}");
        if (Starts(b, [0x42, 0x5A, 0x68]))
            return ("a bzip2-compressed file", $"decompress it first: bunzip2 -k {name}");
        if (Starts(b, [0x50, 0x4B, 0x03, 0x04]))
            return ("a ZIP archive", $"unpack it first: unzip {name}");
        return null;
    }

    private static void Validate(string path, MrcHeader h, long length)
    {
        if (h.Nx <= 0 || h.Ny <= 0 || h.Nz <= 0)
            throw new TomalignInputException(path,
                $"header size NX×NY×NZ = {h.Nx}×{h.Ny}×{h.Nz} is not positive{(h.HasMapId ? "" : " and the 'MAP ' identifier is missing")}",
                "this is not an MRC file or its header is damaged; regenerate it, or set the size with IMOD alterheader -size");
        if (!h.Mode.IsSupported())
        {
            string what = (int)h.Mode switch
            {
                3 or 4 => " (complex Fourier-transform data)",
                101 => " (4-bit packed integers)",
                _ => "",
            };
            if (!h.HasMapId)
                throw new TomalignInputException(path,
                    $"does not look like an MRC file: its header has no 'MAP ' identifier and its mode ({(int)h.Mode}) is no MRC mode",
                    "give the tilt series as an MRC stack (.mrc, .st); convert other formats first, e.g. with IMOD's tif2mrc or newstack");
            throw new TomalignInputException(path,
                $"unsupported MRC mode {(int)h.Mode}{what}; Tomalign reads modes 0, 1, 2, 6 and 12",
                $"convert it to mode 2 (32-bit float) with IMOD: newstack -mode 2 {path} converted.mrc");
        }
        if ((long)h.Nx * h.Ny > Array.MaxLength)
            throw new TomalignInputException(path,
                $"one section of {h.Nx}×{h.Ny} pixels is too large to handle in memory",
                "bin or cut the images first, e.g. IMOD newstack -bin 2");
        if (h.ExtendedHeaderBytes < 0)
            throw new TomalignInputException(path,
                $"extended header size NSYMBT = {h.ExtendedHeaderBytes} is negative",
                "the header is damaged; set NSYMBT to 0 or its true size, or regenerate the file");
        if (MrcHeader.Size + (long)h.ExtendedHeaderBytes > length)
            throw new TomalignInputException(path,
                $"extended header size NSYMBT = {h.ExtendedHeaderBytes} runs past the end of the file ({length} bytes)",
                "the file is incomplete or its header is damaged; copy it again or fix NSYMBT");
        Int128 dataBytes = (Int128)h.SectionBytes * h.Nz;   // may exceed long for a damaged header
        long available = length - h.DataOffset;
        if (dataBytes > available)
        {
            long whole = available / h.SectionBytes;
            throw new TomalignInputException(path,
                $"truncated: header says {dataBytes} bytes of data ({h.Nx}×{h.Ny}×{h.Nz}, mode {(int)h.Mode}), file has {available}, enough for {whole} of {h.Nz} sections",
                $"the file is incomplete — copy it again, or fix NZ (IMOD: alterheader -size {h.Nx},{h.Ny},{whole})");
        }
    }

    /// <summary>Reads section <paramref name="z"/> (Nx·Ny pixels, x fastest) as float.</summary>
    public void ReadSection(int z, Span<float> destination) => ReadSections(z, 1, destination);

    /// <summary>Reads <paramref name="count"/> consecutive sections into <paramref name="destination"/>.</summary>
    public void ReadSections(int firstZ, int count, Span<float> destination)
    {
        ObjectDisposedException.ThrowIf(_handle.IsClosed, this);
        if (firstZ < 0 || count < 0 || (long)firstZ + count > Nz)
            throw new ArgumentOutOfRangeException(nameof(firstZ), $"sections {firstZ}..{firstZ + count - 1} outside 0..{Nz - 1} of {Path}");
        long pixels = Header.SectionPixels * count;
        if (destination.Length < pixels)
            throw new ArgumentException($"destination holds {destination.Length} floats, {pixels} needed", nameof(destination));
        ReadPixels(firstZ * Header.SectionPixels, destination[..(int)pixels]);
    }

    /// <summary>Reads rows <paramref name="firstY"/> … of section <paramref name="z"/> (a Y slab: rows·Nx pixels).</summary>
    public void ReadRows(int z, int firstY, int rows, Span<float> destination)
    {
        ObjectDisposedException.ThrowIf(_handle.IsClosed, this);
        if ((uint)z >= (uint)Nz) throw new ArgumentOutOfRangeException(nameof(z), $"section {z} outside 0..{Nz - 1} of {Path}");
        if (firstY < 0 || rows < 0 || firstY + rows > Ny)
            throw new ArgumentOutOfRangeException(nameof(firstY), $"rows {firstY}..{firstY + rows - 1} outside 0..{Ny - 1} of {Path}");
        long pixels = (long)rows * Nx;
        if (destination.Length < pixels)
            throw new ArgumentException($"destination holds {destination.Length} floats, {pixels} needed", nameof(destination));
        ReadPixels(z * Header.SectionPixels + (long)firstY * Nx, destination[..(int)pixels]);
    }

    private void ReadPixels(long firstPixel, Span<float> destination)
    {
        if (_tiff is not null) { _tiff.ReadPixels(firstPixel, destination); return; }
        var h = Header;
        int bpp = h.BytesPerPixel;
        long offset = h.DataOffset + firstPixel * bpp;
        if (h.Mode == MrcMode.Float32)
        {
            for (int done = 0; done < destination.Length;)
            {
                int n = Math.Min(MrcPixels.ChunkPixels, destination.Length - done);
                var chunk = destination.Slice(done, n);
                ReadExactly(_handle, MemoryMarshal.AsBytes(chunk), offset, Path);
                MrcPixels.FixFloat32InPlace(chunk, h.BigEndian);
                done += n; offset += (long)n * bpp;
            }
            return;
        }
        int bufferPixels = Math.Min(MrcPixels.ChunkPixels, destination.Length);
        byte[] buffer = ArrayPool<byte>.Shared.Rent(Math.Max(1, bufferPixels * bpp));
        try
        {
            for (int done = 0; done < destination.Length;)
            {
                int n = Math.Min(bufferPixels, destination.Length - done);
                var raw = buffer.AsSpan(0, n * bpp);
                ReadExactly(_handle, raw, offset, Path);
                MrcPixels.ToFloat(raw, destination.Slice(done, n), h.Mode, h.Int8Unsigned, h.BigEndian);
                done += n; offset += (long)n * bpp;
            }
        }
        finally { ArrayPool<byte>.Shared.Return(buffer); }
    }

    /// <summary>Reads the whole stack into memory (only for stacks that fit; large ones: stream by section).</summary>
    public ImageStack ReadAll()
    {
        long n = Header.SectionPixels * Nz;
        if (n > Array.MaxLength)
            throw new TomalignInputException(Path,
                $"stack of {Nx}×{Ny}×{Nz} pixels is too large to hold in memory at once",
                "bin it first (IMOD newstack -bin 2) or use a stage that streams sections");
        var stack = new ImageStack(Nx, Ny, Nz);
        ReadSections(0, Nz, stack.Data);
        return stack;
    }

    /// <summary>The NSYMBT bytes of extended header, raw (in the file's byte order).</summary>
    public byte[] ReadExtendedHeader()
    {
        ObjectDisposedException.ThrowIf(_handle.IsClosed, this);
        if (_tiff is not null) return [];
        var ext = new byte[Header.ExtendedHeaderBytes];
        ReadExactly(_handle, ext, MrcHeader.Size, Path);
        return ext;
    }

    /// <summary>Min, max, mean and standard deviation of the finite pixels, and counts of NaN and ±Inf,
    /// streaming section by section.</summary>
    public MrcStatistics ComputeStatistics()
    {
        var total = PixelStats.Empty;
        int sectionPixels = (int)Header.SectionPixels;
        int perChunk = Math.Max(1, MrcPixels.ChunkPixels / sectionPixels);
        var buffer = new float[(long)Math.Min(perChunk, Nz) * sectionPixels];
        for (int z = 0; z < Nz; z += perChunk)
        {
            int count = Math.Min(perChunk, Nz - z);
            var span = buffer.AsSpan(0, count * sectionPixels);
            ReadSections(z, count, span);
            total.Add(PixelStats.Of(span));
        }
        return total.ToStatistics();
    }

    /// <summary>Writer options that keep this file's pixel size, origin, labels and extended header.</summary>
    public MrcWriteOptions CopyHeaderOptions() => MrcWriter.CopyHeaderOptions(Header, ReadExtendedHeader());

    private static void ReadExactly(SafeFileHandle handle, Span<byte> buffer, long offset, string path)
    {
        while (!buffer.IsEmpty)
        {
            int n;
            try { n = RandomAccess.Read(handle, buffer, offset); }
            catch (IOException e)
            {
                throw new TomalignInputException(path, $"read error at byte {offset} ({e.Message})",
                    "check the disk or network share, then copy the file again", e);
            }
            if (n == 0)
                throw new TomalignInputException(path, $"unexpected end of file at byte {offset}",
                    "the file was shortened while being read; copy it again");
            buffer = buffer[n..];
            offset += n;
        }
    }

    public void Dispose()
    {
        _tiff?.Dispose();
        _handle.Dispose();
    }
}
